"""A project as people wrote it: curated/<project>/claims.yaml and curators.yaml, validated with file, line
and field.
"""
