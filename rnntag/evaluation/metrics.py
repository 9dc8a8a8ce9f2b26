"""Scores: span precision/recall/F1 through seqeval, token accuracy, per-tag scores.

Span scores default to seqeval's default mode, which matches the conlleval script that the
CoNLL shared tasks and the BiLSTM-CRF papers report; `mode="strict"` scores a span as correct
only if it is well formed under the declared scheme.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rnntag.errors import RnntagError

Mode = Literal["conlleval", "strict"]
Tags = Sequence[list[str]]


def token_accuracy(gold: Tags, pred: Tags) -> float:
    """Share of tokens whose predicted tag equals the gold tag."""
    total = sum(len(g) for g in gold)
    correct = sum(
        g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)
    )
    return correct / total if total else 0.0


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one label (or an average over labels), and the number of
    gold items (spans or tokens) behind them."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class SpanReport:
    """Span scores of one evaluation.

    Attributes:
        mode: "conlleval" (lenient, as papers report) or "strict".
        types: Scores of each entity type.
        averages: "micro avg", "macro avg" and "weighted avg"; empty when neither side has
            a span.
    """

    mode: Mode
    types: dict[str, Scores]
    averages: dict[str, Scores]

    @property
    def micro(self) -> Scores:
        """The micro average, zero when there is none."""
        return self.averages.get("micro avg", Scores(0.0, 0.0, 0.0, 0))


@dataclass(frozen=True)
class Accuracy:
    """Token accuracy over a number of tokens."""

    accuracy: float
    tokens: int


@dataclass(frozen=True)
class Evaluation:
    """All scores of one evaluation.

    Attributes:
        sentences: Sentences scored.
        tokens: Tokens scored.
        scheme: The span scheme scored in, None for plain tags (POS).
        token_accuracy: Share of tokens tagged right.
        spans: Span scores, for a span scheme.
        tags: Per-tag scores (each token one decision), for plain tags.
        seen_unseen: For plain tags, accuracy on words the model saw in training ("seen")
            and the others ("unseen"), when the model is known.
        unknown_gold_labels: Gold labels outside the model's label set, when it is known.
    """

    sentences: int
    tokens: int
    scheme: str | None
    token_accuracy: float
    spans: SpanReport | None = None
    tags: dict[str, Scores] | None = None
    seen_unseen: dict[str, Accuracy] | None = None
    unknown_gold_labels: list[str] | None = None

    def headline(self) -> tuple[str, float]:
        """The headline number: micro span F1, else token accuracy."""
        if self.spans is not None:
            return "span F1", self.spans.micro.f1
        return "accuracy", self.token_accuracy

    def to_json(self) -> dict[str, Any]:
        """The scores as a JSON-ready dict, with the keys of the attributes ("micro avg" and
        the other averages beside "types" under "spans"), absent parts left out."""
        record: dict[str, Any] = {
            "sentences": self.sentences,
            "tokens": self.tokens,
            "scheme": self.scheme,
            "token_accuracy": self.token_accuracy,
        }
        if self.spans is not None:
            record["spans"] = {
                "mode": self.spans.mode,
                "types": {k: asdict(v) for k, v in self.spans.types.items()},
                **{k: asdict(v) for k, v in self.spans.averages.items()},
            }
        if self.tags is not None:
            record["tags"] = {k: asdict(v) for k, v in self.tags.items()}
        if self.seen_unseen is not None:
            record["seen_unseen"] = {k: asdict(v) for k, v in self.seen_unseen.items()}
        if self.unknown_gold_labels is not None:
            record["unknown_gold_labels"] = self.unknown_gold_labels
        return record


def span_report(gold: Tags, pred: Tags, scheme: str | None, mode: Mode = "conlleval") -> SpanReport:
    """Per-type and averaged span precision, recall, F1 and support (seqeval's).

    Args:
        gold: Gold tag sequences.
        pred: Predicted tag sequences.
        scheme: IOB1, IOB2 or IOBES; needed in strict mode.
        mode: "conlleval" (lenient, as papers report) or "strict".

    Returns:
        The span scores.
    """
    from seqeval import metrics as seqeval_metrics  # slow to import (scikit-learn)
    from seqeval import scheme as seqeval_scheme

    options: dict[str, Any] = {"output_dict": True, "zero_division": 0}
    if mode == "strict":
        if scheme is None:
            raise RnntagError("strict span scoring needs a span scheme (IOB1, IOB2 or IOBES)")
        options.update(mode="strict", scheme=getattr(seqeval_scheme, scheme))
    raw = seqeval_metrics.classification_report(list(gold), list(pred), **options)
    scores = {
        name: Scores(
            float(v["precision"]), float(v["recall"]), float(v["f1-score"]), int(v["support"])
        )
        for name, v in raw.items()
    }
    averages = ("micro avg", "macro avg", "weighted avg")
    return SpanReport(
        mode,
        {k: v for k, v in scores.items() if k not in averages},
        {k: scores[k] for k in averages if k in scores},
    )


def tag_report(gold: Tags, pred: Tags) -> dict[str, Scores]:
    """Precision, recall, F1 and support of every tag, treating each token as one decision."""
    true_pos: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    pred_count: Counter[str] = Counter()
    for gs, ps in zip(gold, pred, strict=True):
        for g, p in zip(gs, ps, strict=True):
            gold_count[g] += 1
            pred_count[p] += 1
            true_pos[g] += g == p
    report = {}
    for tag in sorted(gold_count | pred_count):
        precision = true_pos[tag] / pred_count[tag] if pred_count[tag] else 0.0
        recall = true_pos[tag] / gold_count[tag] if gold_count[tag] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[tag] = Scores(precision, recall, f1, gold_count[tag])
    return report


def seen_unseen_accuracy(
    tokens: Tags, gold: Tags, pred: Tags, known: Callable[[str], bool]
) -> dict[str, Accuracy]:
    """Token accuracy split into words the model saw in training and words it did not."""
    counts = {True: [0, 0], False: [0, 0]}
    for ts, gs, ps in zip(tokens, gold, pred, strict=True):
        for t, g, p in zip(ts, gs, ps, strict=True):
            tally = counts[known(t)]
            tally[0] += g == p
            tally[1] += 1
    return {
        name: Accuracy(c / n if n else 0.0, n)
        for name, (c, n) in (("seen", counts[True]), ("unseen", counts[False]))
    }


def evaluate(
    gold: Tags,
    pred: Tags,
    scheme: str | None,
    mode: Mode = "conlleval",
    tokens: Tags | None = None,
    known: Callable[[str], bool] | None = None,
    labels: Sequence[str] | None = None,
) -> Evaluation:
    """All scores for one evaluation.

    Args:
        gold: Gold tag sequences.
        pred: Predicted tag sequences, aligned with `gold`.
        scheme: Span scheme, or None for plain tags (POS).
        mode: Span scoring mode.
        tokens: Word forms, needed for the seen/unseen split.
        known: Whether the model has an embedding for a word.
        labels: The model's label set; gold labels outside it are listed.

    Returns:
        Span scores for span schemes, else per-tag scores and (given `tokens` and `known`)
        the seen/unseen split; unknown gold labels when `labels` is given.
    """
    seen_unseen = None
    if scheme is None and tokens is not None and known is not None:
        seen_unseen = seen_unseen_accuracy(tokens, gold, pred, known)
    return Evaluation(
        sentences=len(gold),
        tokens=sum(len(g) for g in gold),
        scheme=scheme,
        token_accuracy=token_accuracy(gold, pred),
        spans=span_report(gold, pred, scheme, mode) if scheme is not None else None,
        tags=tag_report(gold, pred) if scheme is None else None,
        seen_unseen=seen_unseen,
        unknown_gold_labels=(
            sorted({t for g in gold for t in g} - set(labels)) if labels is not None else None
        ),
    )


def dev_score(gold: Tags, pred: Tags, scheme: str | None) -> tuple[str, float]:
    """The headline number of `evaluate` (see `Evaluation.headline`) in conlleval mode, computed
    alone: what training selects its best epoch by, five times faster than the whole report.

    Args:
        gold: Gold tag sequences.
        pred: Predicted tag sequences, aligned with `gold`.
        scheme: Span scheme, or None for plain tags (POS).

    Returns:
        ("span F1", micro span F1) for span schemes, else ("accuracy", token accuracy).
    """
    if scheme is None:
        return "accuracy", token_accuracy(gold, pred)
    if all(tag == "O" for tags in (*gold, *pred) for tag in tags):
        # No span on either side: seqeval's average over nothing would warn.
        return "span F1", 0.0
    from seqeval.metrics import f1_score

    return "span F1", float(f1_score(list(gold), list(pred), zero_division=0))
