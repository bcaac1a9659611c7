"""The NCBI E-utilities client: request building, the one pacing and retrying chokepoint, ESearch/EFetch."""
