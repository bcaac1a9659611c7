"""The terminal faces: the interactive grader and a refresh's live progress line."""
