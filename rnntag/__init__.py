"""rnntag: a BiLSTM-CRF sequence tagger for POS tagging and named-entity recognition."""

__version__ = "0.1.0"
