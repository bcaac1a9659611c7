"""What curators decide: grade events, the append-only journal, review rules and agreement, the CSV sheet,
and the study-design suggestions curators accept or correct (pure rules; files only in the journal)."""
