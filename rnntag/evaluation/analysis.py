"""Error analysis of an evaluation: the most frequent confusions with examples, and the
sentences that hold errors; the confusion matrix comes from `rnntag.evaluation.confusion`.

Everything here is a pure function of gold and predicted tag sequences (and the words, for
examples); `rnntag.console.tables` prints them and `rnntag.evaluation.html` renders them as a page.

Span tags (NER) are compared span by span, reading spans as conlleval does
(`schemes.to_spans`). A gold span and a predicted span *match* when they cover exactly the
same tokens; their types may still differ. Every gold span is then one of:

- matched: counted under its gold type and the matching span's predicted type;
- missed: no predicted span overlaps it;
- boundary error: predicted spans overlap it, but none covers exactly its tokens.

and every predicted span is one of: matched; spurious (no gold span overlaps it); boundary
error (it overlaps gold spans, but none covers exactly its tokens). A boundary error thus
shows on both sides: "Bank of England" (ORG) predicted as "England" (LOC) is a gold ORG with a
boundary error and a predicted LOC with a boundary error.

Plain tags (POS) are compared token by token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rnntag.evaluation.confusion import (
    ConfusionMatrix,
    Tags,
    check_aligned,
    match_spans,
    span_confusion_matrix,
    tag_confusion_matrix,
)
from rnntag.io.schemes import Span, to_spans

ELLIPSIS = "…"

Kind = Literal["type", "missed", "spurious", "boundary", "tag"]


@dataclass(frozen=True)
class Example:
    """One occurrence of an error, with the words around it.

    Attributes:
        sentence: 0-based index of the sentence in the evaluated data.
        start: First highlighted token.
        end: One past the last highlighted token.
        left: The words before the highlight, "…" first when cut.
        focus: The highlighted words: the gold and predicted spans involved, or one token.
        right: The words after the highlight, "…" last when cut.
        note: What gold and prediction say there, e.g. 'gold ORG "Bank of England",
            predicted LOC "England"'.
    """

    sentence: int
    start: int
    end: int
    left: str
    focus: str
    right: str
    note: str


@dataclass
class Confusion:
    """One kind of error and how often it happens.

    Attributes:
        kind: "type" (same span, other type), "missed", "spurious", "boundary" (span with
            other boundaries), or "tag" (a token's plain tag).
        gold: The gold type or tag; "" for spurious spans.
        pred: The predicted type or tag; "" for missed spans; for boundary errors the types
            of the overlapping predicted spans, joined by "/".
        count: Occurrences: spans for span errors (boundary errors counted once per gold
            span), tokens for tags.
        examples: The first occurrences, in data order.
    """

    kind: Kind
    gold: str
    pred: str
    count: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def label(self) -> str:
        """A short name: "PER → ORG", "missed LOC", "spurious MISC", "boundary ORG"."""
        if self.kind == "missed":
            return f"missed {self.gold}"
        if self.kind == "spurious":
            return f"spurious {self.pred}"
        if self.kind == "boundary":
            return f"boundary {self.gold}" + ("" if self.pred == self.gold else f" → {self.pred}")
        return f"{self.gold} → {self.pred}"


def context(tokens: Sequence[str], start: int, end: int, width: int = 5) -> tuple[str, str, str]:
    """The words before, inside and after tokens [start, end), at most `width` on each side.

    Returns:
        (left, focus, right) strings; "…" marks where the sentence was cut.
    """
    first, last = max(0, start - width), min(len(tokens), end + width)
    left = [ELLIPSIS] * (first > 0) + list(tokens[first:start])
    right = list(tokens[end:last]) + [ELLIPSIS] * (last < len(tokens))
    return " ".join(left), " ".join(tokens[start:end]), " ".join(right)


def _quote(tokens: Sequence[str], span: Span) -> str:
    return f'{span[0]} "{" ".join(tokens[span[1] : span[2]])}"'


# One error: (kind, gold label, predicted label, first token, end token, note).
_Error = tuple[Kind, str, str, int, int, str]


def _tag_errors(words: Sequence[str], gold: Sequence[str], pred: Sequence[str]) -> list[_Error]:
    return [
        ("tag", g, p, j, j + 1, f'"{words[j]}": gold {g}, predicted {p}')
        for j, (g, p) in enumerate(zip(gold, pred, strict=True))
        if g != p
    ]


def _span_errors(words: Sequence[str], gold: Sequence[str], pred: Sequence[str]) -> list[_Error]:
    match = match_spans(to_spans(gold), to_spans(pred))
    errors: list[_Error] = [
        ("type", g[0], p[0], g[1], g[2], f"gold {_quote(words, g)}, predicted {p[0]}")
        for g, p in match.matched
        if g[0] != p[0]
    ]
    for g in match.missed:
        errors.append(
            ("missed", g[0], "", g[1], g[2], f"gold {_quote(words, g)}, nothing predicted")
        )
    for p in match.spurious:
        errors.append(("spurious", "", p[0], p[1], p[2], f"predicted {_quote(words, p)}, no gold"))
    for g, touching in match.gold_boundary:
        kinds = "/".join(sorted({p[0] for p in touching}))
        # Highlight the gold span and the predictions that overlap it together.
        first = min(g[1], *(p[1] for p in touching))
        end = max(g[2], *(p[2] for p in touching))
        predicted = ", ".join(_quote(words, p) for p in touching)
        errors.append(
            ("boundary", g[0], kinds, first, end, f"gold {_quote(words, g)}, predicted {predicted}")
        )
    # In sentence order, so the first examples are the first occurrences.
    return sorted(errors, key=lambda e: (e[3], e[4]))


def confusions(
    tokens: Tags, gold: Tags, pred: Tags, spans: bool, examples: int = 2, width: int = 5
) -> list[Confusion]:
    """Every kind of error, the most frequent first, with its first `examples` occurrences.

    For spans: "PER → ORG" (same tokens, other type), "missed LOC", "spurious MISC",
    "boundary ORG" (a gold ORG overlapped only by predictions with other boundaries; with
    the predicted types after an arrow when they differ, "boundary ORG → LOC"). For plain
    tags: "NOUN → PROPN", one per token.

    Args:
        tokens: The words of each sentence.
        gold: Gold tag sequences.
        pred: Predicted tag sequences, aligned with `gold`.
        spans: Compare entity spans (NER) rather than tags (POS).
        examples: Occurrences to keep per kind of error.
        width: Words of context on each side of an example.

    Returns:
        The confusions, by decreasing count, then by label.
    """
    check_aligned(gold, pred, tokens)
    found: dict[tuple[str, str, str], Confusion] = {}
    for i, (words, g_tags, p_tags) in enumerate(zip(tokens, gold, pred, strict=True)):
        errors = (
            _span_errors(words, g_tags, p_tags) if spans else _tag_errors(words, g_tags, p_tags)
        )
        for kind, g, p, first, end, note in errors:
            entry = found.setdefault((kind, g, p), Confusion(kind, g, p))
            entry.count += 1
            if len(entry.examples) < examples:
                left, focus, right = context(words, first, end, width)
                entry.examples.append(Example(i, first, end, left, focus, right, note))
    return sorted(found.values(), key=lambda c: (-c.count, c.label))


@dataclass(frozen=True)
class Mark:
    """A highlighted stretch of a sentence: an entity span, or one token's tag.

    Attributes:
        label: The entity type or tag.
        start: First token.
        end: One past the last token.
        correct: Whether the other side has the same label on exactly these tokens.
    """

    label: str
    start: int
    end: int
    correct: bool


@dataclass(frozen=True)
class ErrorSentence:
    """A sentence where prediction and gold differ.

    Attributes:
        index: 0-based position in the evaluated data.
        tokens: The words.
        gold: Gold marks: every entity span, or every token's tag.
        pred: Predicted marks, likewise.
    """

    index: int
    tokens: list[str]
    gold: list[Mark]
    pred: list[Mark]


def error_sentences(tokens: Tags, gold: Tags, pred: Tags, spans: bool) -> list[ErrorSentence]:
    """Every sentence with at least one error, with its gold and predicted marks.

    For spans, a sentence has an error when its gold and predicted spans differ (tags that
    differ only in how the scheme writes the same spans are not errors); for plain tags,
    when some token's tag differs.

    Args:
        tokens: The words of each sentence.
        gold: Gold tag sequences.
        pred: Predicted tag sequences, aligned with `gold`.
        spans: Compare entity spans (NER) rather than tags (POS).

    Returns:
        The sentences in data order.
    """
    check_aligned(gold, pred, tokens)
    found = []
    for i, (words, g_tags, p_tags) in enumerate(zip(tokens, gold, pred, strict=True)):
        if spans:
            g_spans, p_spans = to_spans(g_tags), to_spans(p_tags)
            if set(g_spans) == set(p_spans):
                continue
            g_marks = [Mark(t, s, e, (t, s, e) in p_spans) for t, s, e in g_spans]
            p_marks = [Mark(t, s, e, (t, s, e) in g_spans) for t, s, e in p_spans]
        else:
            if list(g_tags) == list(p_tags):
                continue
            same = [g == p for g, p in zip(g_tags, p_tags, strict=True)]
            g_marks = [Mark(t, j, j + 1, same[j]) for j, t in enumerate(g_tags)]
            p_marks = [Mark(t, j, j + 1, same[j]) for j, t in enumerate(p_tags)]
        found.append(ErrorSentence(i, list(words), g_marks, p_marks))
    return found


@dataclass(frozen=True)
class Analysis:
    """Everything the error reports show.

    Attributes:
        spans: Whether entity spans (NER) were compared, rather than plain tags (POS).
        sentences: Number of sentences analysed.
        matrix: The confusion matrix.
        confusions: Every kind of error, the most frequent first.
        error_sentences: Every sentence with an error, in data order.
    """

    spans: bool
    sentences: int
    matrix: ConfusionMatrix
    confusions: list[Confusion]
    error_sentences: list[ErrorSentence]


def analyze(
    tokens: Tags, gold: Tags, pred: Tags, spans: bool, examples: int = 2, width: int = 5
) -> Analysis:
    """The confusion matrix, confusions and error sentences of one evaluation; the
    arguments are those of `confusions`."""
    matrix = span_confusion_matrix(gold, pred) if spans else tag_confusion_matrix(gold, pred)
    return Analysis(
        spans,
        len(gold),
        matrix,
        confusions(tokens, gold, pred, spans, examples, width),
        error_sentences(tokens, gold, pred, spans),
    )
