"""Tokens in the convention a model learned: plain text is split as UD English splits it
(`Jean - Luc`), but a model trained on CoNLL-2003 knows hyphenated compounds as one token
(`Jean-Luc`). Such a model always sees the compounds joined. Tagging alone, it prints the
tokens it saw (`joined_sentence`), so that its output fed back as tokens is tagged the same;
beside other models its prediction is spread back over the pieces (`spread`), so that every
model's tags stand on the same tokens and entities come out whole."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rnntag.io.schemes import OUTSIDE, split_tag
from rnntag.io.sentence import InputSentence
from rnntag.tagging.tagged import Prediction


def joined(tokens: Sequence[str], groups: Sequence[range]) -> list[str]:
    """One token per group of pieces (see `rnntag.io.text.hyphen_groups`)."""
    return ["".join(tokens[i] for i in group) for group in groups]


def joined_sentence(sentence: InputSentence, groups: Sequence[range]) -> InputSentence:
    """A sentence of plain text with each group of pieces one token, spanning their offsets."""
    offsets = sentence.offsets or []
    return dataclasses.replace(
        sentence,
        tokens=joined(sentence.tokens, groups),
        offsets=[(offsets[g.start][0], offsets[g.stop - 1][1]) for g in groups],
    )


def spread(prediction: Prediction, groups: Sequence[range], scheme: str | None) -> Prediction:
    """A prediction for joined tokens, carried over to their pieces.

    Args:
        prediction: The model's prediction, one tag per group.
        groups: The pieces of each joined token.
        scheme: The span scheme of the tags, None for plain tags.

    Returns:
        A prediction with a tag per piece: a plain tag or `O` on every piece, a span tag
        stretched over them (`B-PER` is `B-PER I-PER ...`; in IOBES `S-PER` is `B-PER ...
        E-PER`), each piece with its group's score.
    """
    scores = None
    if prediction.scores is not None:
        scores = [p for p, g in zip(prediction.scores, groups, strict=True) for _ in g]
    spans = [
        (kind, groups[first].start, groups[end - 1].stop, p)
        for kind, first, end, p in prediction.spans
    ]
    nbest = [(_spread_tags(ranked, groups, scheme), p) for ranked, p in prediction.nbest]
    tags = _spread_tags(prediction.tags, groups, scheme)
    return Prediction(tags, scores, spans, nbest)


def _spread_tags(tags: Sequence[str], groups: Sequence[range], scheme: str | None) -> list[str]:
    return [t for tag, g in zip(tags, groups, strict=True) for t in _tags(tag, len(g), scheme)]


def _tags(tag: str, pieces: int, scheme: str | None) -> list[str]:
    """One joined token's tag over its pieces."""
    if pieces == 1 or scheme is None or tag == OUTSIDE:
        return [tag] * pieces
    prefix, label = split_tag(tag)
    inside = f"I-{label}"
    first = tag if prefix in ("B", "I") else (f"B-{label}" if prefix == "S" else inside)
    last = f"E-{label}" if prefix in ("E", "S") else inside
    return [first, *[inside] * (pieces - 2), last]
