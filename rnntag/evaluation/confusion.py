"""Confusion matrices of an evaluation, and the span matching they and the error analysis
share (see `rnntag.evaluation.analysis` for what matched, missed, spurious and boundary
errors are).

Pure functions of gold and predicted tag sequences: span tags compared span by span, read
as conlleval reads them (`schemes.to_spans`); plain tags token by token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

from rnntag.errors import RnntagError
from rnntag.io.schemes import Span, to_spans

MISSED = "missed"
SPURIOUS = "spurious"
BOUNDARY = "boundary"
# Labels a confusion matrix shows at most (UD's UPOS has 17, CoNLL-2003 4 types); beyond,
# the rarest are counted together under OTHERS.
MAX_MATRIX_LABELS = 40
OTHERS = "(others)"
Tags = Sequence[Sequence[str]]


@dataclass(frozen=True)
class SpanMatch:
    """How the gold and predicted spans of one sentence line up.

    Attributes:
        matched: (gold, predicted) pairs covering exactly the same tokens; types may differ.
        missed: Gold spans that no predicted span overlaps.
        spurious: Predicted spans that overlap no gold span.
        gold_boundary: Gold spans overlapped only by predicted spans with other boundaries,
            each with those predicted spans.
        pred_boundary: Predicted spans that overlap gold spans but match none, each with the
            gold spans they overlap.
    """

    matched: list[tuple[Span, Span]] = field(default_factory=list)
    missed: list[Span] = field(default_factory=list)
    spurious: list[Span] = field(default_factory=list)
    gold_boundary: list[tuple[Span, list[Span]]] = field(default_factory=list)
    pred_boundary: list[tuple[Span, list[Span]]] = field(default_factory=list)


def _overlaps(a: Span, b: Span) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def match_spans(gold: Sequence[Span], pred: Sequence[Span]) -> SpanMatch:
    """Line up one sentence's gold and predicted spans (see the module docstring).

    Args:
        gold: Gold (type, start, end) spans; they do not overlap each other.
        pred: Predicted spans; they do not overlap each other.

    Returns:
        The matched pairs, missed and spurious spans, and boundary errors on either side.
    """
    exact = {(p[1], p[2]): p for p in pred}
    gold_bounds = {(g[1], g[2]) for g in gold}
    gold_boundary, missed = _unmatched(gold, pred, exact.keys())
    pred_boundary, spurious = _unmatched(pred, gold, gold_bounds)
    matched = [(g, exact[(g[1], g[2])]) for g in gold if (g[1], g[2]) in exact]
    return SpanMatch(matched, missed, spurious, gold_boundary, pred_boundary)


def _unmatched(
    spans: Sequence[Span], others: Sequence[Span], other_bounds: Container[tuple[int, int]]
) -> tuple[list[tuple[Span, list[Span]]], list[Span]]:
    """The spans whose boundaries no other span has: those that overlap other spans (each
    with them), and those that overlap none."""
    boundary, alone = [], []
    for span in spans:
        if (span[1], span[2]) in other_bounds:
            continue
        touching = [other for other in others if _overlaps(span, other)]
        if touching:
            boundary.append((span, touching))
        else:
            alone.append(span)
    return boundary, alone


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of gold labels (rows) against predicted labels (columns).

    Attributes:
        labels: The entity types or tags, in the same order on both axes; the cell where a
            label meets itself counts correct decisions.
        extra_rows: Rows after the labels: "spurious" and "boundary" for spans, none for tags.
        extra_columns: Columns after the labels: "missed" and "boundary" for spans.
        counts: One list per row (labels, then extra rows), one count per column.
    """

    labels: list[str]
    extra_rows: list[str]
    extra_columns: list[str]
    counts: list[list[int]]

    @property
    def rows(self) -> list[str]:
        """Row names: the labels, then the extra rows."""
        return [*self.labels, *self.extra_rows]

    @property
    def columns(self) -> list[str]:
        """Column names: the labels, then the extra columns."""
        return [*self.labels, *self.extra_columns]

    def count(self, row: str, column: str) -> int:
        """The count in a cell named by its row and column."""
        return self.counts[self.rows.index(row)][self.columns.index(column)]


def check_aligned(gold: Tags, pred: Tags, tokens: Tags | None = None) -> None:
    words = gold if tokens is None else tokens
    if not len(gold) == len(pred) == len(words):
        raise RnntagError(
            f"{len(gold)} gold sentences, {len(pred)} predicted, {len(words)} with words"
        )
    for i, (g, p, w) in enumerate(zip(gold, pred, words, strict=True)):
        if not len(g) == len(p) == len(w):
            raise RnntagError(
                f"sentence {i + 1}: {len(g)} gold tags, {len(p)} predicted, {len(w)} words"
            )


def span_confusion_matrix(gold: Tags, pred: Tags) -> ConfusionMatrix:
    """Entity type by entity type, with the errors that have no type on one side.

    Rows are gold types, then "spurious" (predicted spans that overlap no gold span) and
    "boundary" (predicted spans that overlap gold spans but match none); columns are
    predicted types, then "missed" (gold spans no prediction overlaps) and "boundary" (gold
    spans overlapped only by predictions with other boundaries). So each type's row adds up
    to its number of gold spans and each type's column to its number of predicted spans;
    cells where an extra row meets an extra column are always 0.

    Args:
        gold: Gold tag sequences in any span scheme.
        pred: Predicted tag sequences, aligned with `gold`.

    Returns:
        The matrix; types in alphabetical order.
    """
    check_aligned(gold, pred)
    cells: Counter[tuple[str, str]] = Counter()
    types: set[str] = set()
    for g_tags, p_tags in zip(gold, pred, strict=True):
        g_spans, p_spans = to_spans(g_tags), to_spans(p_tags)
        types.update(s[0] for s in g_spans)
        types.update(s[0] for s in p_spans)
        match = match_spans(g_spans, p_spans)
        for g, p in match.matched:
            cells[g[0], p[0]] += 1
        for g in match.missed:
            cells[g[0], MISSED] += 1
        for g, _ in match.gold_boundary:
            cells[g[0], BOUNDARY] += 1
        for p in match.spurious:
            cells[SPURIOUS, p[0]] += 1
        for p, _ in match.pred_boundary:
            cells[BOUNDARY, p[0]] += 1
    return _matrix(cells, types, [SPURIOUS, BOUNDARY], [MISSED, BOUNDARY])


def tag_confusion_matrix(gold: Tags, pred: Tags) -> ConfusionMatrix:
    """Tag by tag, one count per token: the gold tag's row, the predicted tag's column.

    Args:
        gold: Gold tag sequences.
        pred: Predicted tag sequences, aligned with `gold`.

    Returns:
        The matrix; tags in alphabetical order, no extra rows or columns.
    """
    check_aligned(gold, pred)
    cells: Counter[tuple[str, str]] = Counter(
        (g, p) for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)
    )
    return _matrix(cells, {label for pair in cells for label in pair}, [], [])


def _matrix(
    cells: Counter[tuple[str, str]],
    labels: set[str],
    extra_rows: list[str],
    extra_columns: list[str],
) -> ConfusionMatrix:
    """The matrix of `cells`, labels in alphabetical order. Beyond `MAX_MATRIX_LABELS`, the
    rarer labels (by the sum of their row and column) are counted together as `OTHERS`, so
    the matrix stays readable, and small, whatever the number of tags."""
    if len(labels) > MAX_MATRIX_LABELS:
        totals: Counter[str] = Counter()
        for (row, column), count in cells.items():
            totals[row] += count
            totals[column] += count
        kept = set(
            sorted(labels, key=lambda label: (-totals[label], label))[: MAX_MATRIX_LABELS - 1]
        )
        merged: Counter[tuple[str, str]] = Counter()
        for (row, column), count in cells.items():
            merged[_or_others(row, kept, labels), _or_others(column, kept, labels)] += count
        cells, names = merged, [*sorted(kept), OTHERS]
    else:
        names = sorted(labels)
    rows, columns = [*names, *extra_rows], [*names, *extra_columns]
    return ConfusionMatrix(
        names, extra_rows, extra_columns, [[cells[r, c] for c in columns] for r in rows]
    )


def _or_others(name: str, kept: set[str], labels: set[str]) -> str:
    return OTHERS if name in labels and name not in kept else name
