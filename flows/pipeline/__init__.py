"""The Prefect flows and what composes them: refresh, the living run, status, the demo, locks and global
pace.
"""
