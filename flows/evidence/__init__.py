"""Evidence rules as data: the ladder and its vocabularies, the claim rating, and the re-check of graded
studies.
"""
