"""Span tag schemes: detecting IOB1, IOB2 (BIO) and IOBES, converting between them, and the
transitions each one allows.

IOB1 (CoNLL-2003) starts a span with I- and uses B- only for a span that directly follows
another of the same type; IOB2 starts every span with B-; IOBES marks the end of a span with
E- and a one-token span with S-. BILOU files use L- and U- for E- and S-.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Literal

from rnntag.errors import RnntagError

Scheme = Literal["IOB1", "IOB2", "IOBES"]
SCHEMES: tuple[Scheme, ...] = ("IOB1", "IOB2", "IOBES")
# What span models write unless asked for another: BIO, which spaCy, Flair, Stanza and
# seqeval's users read (`B-` begins every entity); the training data's scheme may differ.
OUTPUT_SCHEME: Scheme = "IOB2"
OUTSIDE = "O"
_PREFIXES = frozenset("BIESLU")
_BILOU = {"L": "E", "U": "S"}

Span = tuple[str, int, int]  # (type, first token, one past the last token)


def split_tag(tag: str) -> tuple[str, str]:
    """Split `B-PER` into ("B", "PER"); `O` gives ("O", ""); BILOU's L and U read as E and S."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    return _BILOU.get(tag[0], tag[0]), tag[2:]


def is_span_tag(tag: str) -> bool:
    """Whether `tag` is `O` or a prefix letter, a hyphen and a non-empty type."""
    return tag == OUTSIDE or (len(tag) > 2 and tag[0] in _PREFIXES and tag[1] == "-")


def detect_scheme(sentences: Iterable[Sequence[str]]) -> Scheme | None:
    """Detect the span scheme of tagged sentences.

    Args:
        sentences: Tag sequences.

    Returns:
        "IOBES" if E-, S-, L- or U- occurs; "IOB1" if at least as many spans start with I-
        as start with B- after `O` or another type (which IOB1 never does; CoNLL-2002's IOB2 Spanish
        has one stray I- start among 18,751 spans); otherwise "IOB2". None when any tag is
        not a span tag (POS tags, say) or every tag is `O`.
    """
    seen_prefixes: set[str] = set()
    starts = {"B": 0, "I": 0}
    for tags in sentences:
        previous = OUTSIDE
        for tag in tags:
            if not is_span_tag(tag):
                return None
            prefix, label = split_tag(tag)
            seen_prefixes.add(prefix)
            before, before_label = split_tag(previous)
            if prefix in starts and (before == OUTSIDE or before_label != label):
                starts[prefix] += 1
            previous = tag
    if seen_prefixes <= {OUTSIDE}:
        return None
    if seen_prefixes & {"E", "S"}:
        return "IOBES"
    return "IOB1" if starts["I"] and starts["I"] >= starts["B"] else "IOB2"


def to_spans(tags: Sequence[str]) -> list[Span]:
    """The spans in a tag sequence of any scheme, read leniently as conlleval does: a span
    starts at B- or S-, or at I- or E- that does not continue a span of the same type.

    Args:
        tags: One sentence's tags.

    Returns:
        The spans in order.
    """
    spans: list[Span] = []
    label, start = "", -1  # the open span, if start >= 0
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        continues = start >= 0 and kind == label and prefix in ("I", "E")
        if not continues and start >= 0:
            spans.append((label, start, i))
            start = -1
        if prefix != OUTSIDE and not continues:
            label, start = kind, i
        if prefix in ("E", "S") and start >= 0:
            spans.append((label, start, i + 1))
            start = -1
    if start >= 0:
        spans.append((label, start, len(tags)))
    return spans


def from_spans(spans: Sequence[Span], length: int, scheme: str) -> list[str]:
    """Write non-overlapping spans as tags in `scheme`.

    Args:
        spans: (type, start, end) triples, in order.
        length: Sentence length.
        scheme: Target scheme.

    Returns:
        `length` tags.
    """
    tags = [OUTSIDE] * length
    previous_end, previous_label = -1, ""
    for label, start, end in spans:
        tags[start:end] = [f"I-{label}"] * (end - start)
        if scheme == "IOB2" or (
            scheme == "IOB1" and previous_end == start and previous_label == label
        ):
            tags[start] = f"B-{label}"
        elif scheme == "IOBES":
            if end - start == 1:
                tags[start] = f"S-{label}"
            else:
                tags[start], tags[end - 1] = f"B-{label}", f"E-{label}"
        previous_end, previous_label = end, label
    return tags


def convert(tags: Sequence[str], scheme: str) -> list[str]:
    """Rewrite one sentence's span tags in `scheme`; ill-formed input is read leniently."""
    return from_spans(to_spans(tags), len(tags), scheme)


def conversion_table(labels: Sequence[str], scheme: str) -> tuple[list[str], list[list[list[int]]]]:
    """What `convert` makes of each tag, as a function of the tags around it.

    `to_spans` decides whether a span starts at a tag from that tag and the one before, and
    whether it ends there from that tag and the one after; and `from_spans` writes a tag from
    its span's bounds and, for IOB1, the type of a span ending just before. So a tag's
    converted form depends on its neighbours alone, and a lookup in this table gives exactly
    what `convert` gives, for every sequence, well formed or not.

    Args:
        labels: The tags of the input (a model's labels).
        scheme: Target scheme.

    Returns:
        The target scheme's labels (see `scheme_labels`), and `table[before][tag][after]`:
        the index among them of `labels[tag]` converted, between `labels[before]` and
        `labels[after]`; index `len(labels)` stands for the start (as `before`) or the end
        (as `after`) of the sentence.
    """
    targets = scheme_labels(labels, scheme)
    index = {tag: i for i, tag in enumerate(targets)}
    around: list[list[str]] = [[label] for label in labels] + [[]]
    return targets, [
        [
            [index[convert([*before, tag, *after], scheme)[len(before)]] for after in around]
            for tag in labels
        ]
        for before in around
    ]


def is_transition_allowed(scheme: str, before: str, after: str) -> bool:
    """Whether tag `after` may follow tag `before` in a well-formed sequence.

    `before` may be "START" and `after` may be "END" for the sentence boundaries.
    """
    if before == "START":
        before = OUTSIDE
    if after == "END":
        after = OUTSIDE
    prefix_before, label_before = split_tag(before)
    prefix_after, label_after = split_tag(after)
    same = label_before == label_after
    if scheme == "IOB1":
        # B- only directly after a span of the same type; anything else may follow anything.
        return prefix_after != "B" or (prefix_before in ("B", "I") and same)
    if scheme == "IOB2":
        # I- only continues a span of the same type.
        return prefix_after != "I" or (prefix_before in ("B", "I") and same)
    # IOBES: inside a span (after B- or I-) only I- or E- of the same type may come;
    # outside one (after O, E-, S-) only O, B- or S- may.
    if prefix_before in ("B", "I"):
        return prefix_after in ("I", "E") and same
    return prefix_after in (OUTSIDE, "B", "S")


def is_well_formed(tags: Sequence[str], scheme: str) -> bool:
    """Whether every transition in the sequence, boundaries included, is allowed."""
    sequence = ["START", *tags, "END"]
    return all(is_transition_allowed(scheme, a, b) for a, b in itertools.pairwise(sequence))


def allowed_transitions(
    scheme: str, labels: Sequence[str]
) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Which starts, transitions and ends a CRF over `labels` may use.

    Args:
        scheme: The scheme the labels are in.
        labels: The tag of each CRF state.

    Returns:
        (start[j], transition[i][j] from i to j, end[i]) truth values.
    """
    return (
        [is_transition_allowed(scheme, "START", b) for b in labels],
        [[is_transition_allowed(scheme, a, b) for b in labels] for a in labels],
        [is_transition_allowed(scheme, a, "END") for a in labels],
    )


def scheme_labels(labels: Iterable[str], scheme: str) -> list[str]:
    """Every tag `scheme` can write for the span types among `labels`."""
    types = sorted({split_tag(label)[1] for label in labels} - {""})
    prefixes = "BIES" if scheme == "IOBES" else "BI"
    return [OUTSIDE, *(f"{prefix}-{kind}" for kind in types for prefix in prefixes)]


def first_violation(tags: Sequence[str], scheme: str) -> int | None:
    """Index of the first tag that may not follow its predecessor (len(tags) when the last
    tag may not end a sentence), or None when the sequence is well formed."""
    sequence = ["START", *tags, "END"]
    for i, (before, after) in enumerate(itertools.pairwise(sequence)):
        if not is_transition_allowed(scheme, before, after):
            return i
    return None


def check_output_scheme(scheme: str | None) -> None:
    """Refuse an output scheme rnntag does not write (`iob2` for `IOB2`, say)."""
    if scheme is not None and scheme not in SCHEMES:
        raise RnntagError(f"output scheme {scheme!r} must be one of {', '.join(SCHEMES)}")
