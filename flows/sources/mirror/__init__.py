"""The local PubMed mirror as a SearchSource: queries evaluated on a mirror file instead of NCBI."""
