"""Scores: span precision/recall/F1 through seqeval, token accuracy, per-tag scores.

Span scores default to seqeval's default mode, which matches the conlleval script that the
CoNLL shared tasks and the BiLSTM-CRF papers report; `mode="strict"` scores a span as correct
only if it is well formed under the declared scheme.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
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


def span_report(
    gold: Tags, pred: Tags, scheme: str | None, mode: Mode = "conlleval"
) -> dict[str, Any]:
    """Per-type and averaged span precision, recall, F1 and support.

    Args:
        gold: Gold tag sequences.
        pred: Predicted tag sequences.
        scheme: IOB1, IOB2 or IOBES; needed in strict mode.
        mode: "conlleval" (lenient, as papers report) or "strict".

    Returns:
        {"mode", "types": {type: scores}, "micro avg", "macro avg", "weighted avg"}.
    """
    from seqeval import metrics as seqeval_metrics  # slow to import (scikit-learn)
    from seqeval import scheme as seqeval_scheme

    options: dict[str, Any] = {"output_dict": True, "zero_division": 0}
    if mode == "strict":
        if scheme is None:
            raise RnntagError("strict span scoring needs a span scheme (IOB1, IOB2 or IOBES)")
        options.update(mode="strict", scheme=getattr(seqeval_scheme, scheme))
    raw = seqeval_metrics.classification_report(list(gold), list(pred), **options)
    averages = ("micro avg", "macro avg", "weighted avg")
    clean = {k: {m: float(v) for m, v in scores.items()} for k, scores in raw.items()}
    return {
        "mode": mode,
        "types": {k: v for k, v in clean.items() if k not in averages},
        **{k: clean[k] for k in averages if k in clean},
    }


def tag_report(gold: Tags, pred: Tags) -> dict[str, dict[str, float]]:
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
        report[tag] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": gold_count[tag],
        }
    return report


def seen_unseen_accuracy(
    tokens: Tags, gold: Tags, pred: Tags, known: Callable[[str], bool]
) -> dict[str, dict[str, float]]:
    """Token accuracy split into words the model saw in training and words it did not."""
    counts = {True: [0, 0], False: [0, 0]}
    for ts, gs, ps in zip(tokens, gold, pred, strict=True):
        for t, g, p in zip(ts, gs, ps, strict=True):
            tally = counts[known(t)]
            tally[0] += g == p
            tally[1] += 1
    return {
        name: {"accuracy": c / n if n else 0.0, "tokens": n}
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
) -> dict[str, Any]:
    """All scores for one evaluation, as a JSON-ready dict.

    Args:
        gold: Gold tag sequences.
        pred: Predicted tag sequences, aligned with `gold`.
        scheme: Span scheme, or None for plain tags (POS).
        mode: Span scoring mode.
        tokens: Word forms, needed for the seen/unseen split.
        known: Whether the model has an embedding for a word.
        labels: The model's label set; gold labels outside it are listed.

    Returns:
        {"sentences", "tokens", "token_accuracy", then "spans" for span schemes or "tags" and
        "seen_unseen" otherwise, and "unknown_gold_labels" when `labels` is given}.
    """
    result: dict[str, Any] = {
        "sentences": len(gold),
        "tokens": sum(len(g) for g in gold),
        "scheme": scheme,
        "token_accuracy": token_accuracy(gold, pred),
    }
    if scheme is not None:
        result["spans"] = span_report(gold, pred, scheme, mode)
    else:
        result["tags"] = tag_report(gold, pred)
        if tokens is not None and known is not None:
            result["seen_unseen"] = seen_unseen_accuracy(tokens, gold, pred, known)
    if labels is not None:
        known_labels = set(labels)
        result["unknown_gold_labels"] = sorted({t for g in gold for t in g} - known_labels)
    return result


def dev_score(gold: Tags, pred: Tags, scheme: str | None) -> tuple[str, float]:
    """The headline number of `evaluate` (see `primary_score`) in conlleval mode, computed
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


def primary_score(result: dict[str, Any]) -> tuple[str, float]:
    """The headline number of an evaluation: micro span F1, else token accuracy."""
    if "spans" in result:
        return "span F1", result["spans"].get("micro avg", {}).get("f1-score", 0.0)
    return "accuracy", result["token_accuracy"]
