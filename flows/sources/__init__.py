"""Where records come from: the SearchSource protocol, live E-utilities (eutils/) and a local mirror
(mirror/).

Sources never import the store: the pipeline composes a source with the store.
"""
