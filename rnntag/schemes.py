"""Span tag schemes: detecting IOB1, IOB2 (BIO) and IOBES from the tags themselves.

IOB1 (CoNLL-2003) starts a span with I- and uses B- only between two adjacent spans of the
same type; IOB2 starts every span with B-; IOBES adds E- (end) and S- (single). BILOU files
use L- and U- for E- and S-.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Scheme = Literal["IOB1", "IOB2", "IOBES"]
OUTSIDE = "O"
_PREFIXES = frozenset("BIESLU")


def split_tag(tag: str) -> tuple[str, str]:
    """Split `B-PER` into ("B", "PER"); `O` gives ("O", "")."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    return tag[0], tag[2:]


def is_span_tag(tag: str) -> bool:
    """Whether `tag` is `O` or a prefix letter, a hyphen and a non-empty type."""
    return tag == OUTSIDE or (len(tag) > 2 and tag[0] in _PREFIXES and tag[1] == "-")


def detect_scheme(sentences: Iterable[list[str]]) -> Scheme | None:
    """Detect the span scheme of tagged sentences.

    Args:
        sentences: Tag sequences.

    Returns:
        "IOBES" if E-, S-, L- or U- occurs; "IOB1" if some span starts with I-; otherwise
        "IOB2". None when any tag is not a span tag (POS tags, say) or every tag is `O`.
    """
    seen_prefixes: set[str] = set()
    starts_with_inside = False
    for tags in sentences:
        previous = OUTSIDE
        for tag in tags:
            if not is_span_tag(tag):
                return None
            prefix, label = split_tag(tag)
            seen_prefixes.add(prefix)
            if prefix == "I":
                before, before_label = split_tag(previous)
                if before == OUTSIDE or before_label != label:
                    starts_with_inside = True
            previous = tag
    if seen_prefixes <= {OUTSIDE}:
        return None
    if seen_prefixes & set("ESLU"):
        return "IOBES"
    return "IOB1" if starts_with_inside else "IOB2"
