"""rnntag: a BiLSTM-CRF sequence tagger for POS tagging and named-entity recognition.

>>> import rnntag
>>> ner = rnntag.load("ner")
>>> [(e.text, e.label) for e in ner.tag("Barack Obama visited Paris last May.")[0].entities]
[('Barack Obama', 'PER'), ('Paris', 'LOC')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnntag.version import __version__

__all__ = ["Entity", "Sentence", "Tagger", "Token", "__version__", "load", "train"]

if TYPE_CHECKING:
    from rnntag.api import load, train
    from rnntag.tagging.tagged import Entity, Sentence, Token
    from rnntag.tagging.tagger import Tagger


def __getattr__(name: str) -> Any:
    # Imported on first use: the command line starts without loading torch for --help.
    if name in ("load", "train"):
        from rnntag import api

        return getattr(api, name)
    if name == "Tagger":
        from rnntag.tagging.tagger import Tagger

        return Tagger
    if name in ("Entity", "Sentence", "Token"):
        from rnntag.tagging import tagged

        return getattr(tagged, name)
    raise AttributeError(f"module 'rnntag' has no attribute {name!r}")
