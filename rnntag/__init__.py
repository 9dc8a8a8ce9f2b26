"""rnntag: a BiLSTM-CRF sequence tagger for POS tagging and named-entity recognition.

>>> import rnntag
>>> ner = rnntag.load("ner")
>>> [(e.text, e.label) for e in ner.tag("Barack Obama visited Paris last May.")[0].entities]
[('Barack Obama', 'PER'), ('Paris', 'LOC')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Entity", "Sentence", "Tagger", "Token", "__version__", "load", "train"]

if TYPE_CHECKING:
    from rnntag.api import load, train
    from rnntag.predict import Tagger
    from rnntag.tagged import Entity, Sentence, Token


def __getattr__(name: str) -> Any:
    # Imported on first use: the command line starts without loading torch for --help.
    if name in ("load", "train"):
        from rnntag import api

        return getattr(api, name)
    if name == "Tagger":
        from rnntag.predict import Tagger

        return Tagger
    if name in ("Entity", "Sentence", "Token"):
        from rnntag import tagged

        return getattr(tagged, name)
    raise AttributeError(f"module 'rnntag' has no attribute {name!r}")
