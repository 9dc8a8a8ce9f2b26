"""Writing tagged sentences: CoNLL columns, CoNLL-U, JSON lines and inline `word/TAG`.
(The `pretty` terminal view lives in `report.py`, with the other rich output.)"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from rnntag.corpus import Sentence, write_conll, write_conllu
from rnntag.predict import Prediction

FORMATS = ("conll", "conllu", "jsonl", "inline", "pretty")


@dataclass
class Column:
    """One model's predictions for one sentence, under the name the user gave the model."""

    name: str
    prediction: Prediction
    spans: bool  # whether the model tags entities


def offsets(sentence: Sentence) -> list[tuple[int, int]]:
    """Character offsets of the tokens: in the input for plain text, else in `text_of`."""
    if sentence.offsets is not None:
        return sentence.offsets
    found, position = [], 0
    for token in sentence.tokens:
        found.append((position, position + len(token)))
        position += len(token) + 1
    return found


def text_of(sentence: Sentence) -> str:
    """The sentence as text: as it stood in plain-text input, else its tokens joined by spaces."""
    return sentence.text if sentence.text is not None else " ".join(sentence.tokens)


def entities(sentence: Sentence, column: Column) -> list[dict[str, Any]]:
    """The entities of a span model's prediction, with text, label, offsets and confidence."""
    from rnntag.schemes import to_spans

    prediction = column.prediction
    spans: list[tuple[str, int, int, float | None]] = [*prediction.spans] or [
        (*span, None) for span in to_spans(prediction.tags)
    ]
    places = offsets(sentence)
    text = text_of(sentence)
    # Plain-text offsets count from the start of the input, and the text from the first token.
    shift = places[0][0]
    found = []
    for label, first, end, confidence in spans:
        start, stop = places[first][0], places[end - 1][1]
        entity = {
            "text": text[start - shift : stop - shift],
            "label": label,
            "start": start,
            "end": stop,
            "token_start": first,
            "token_end": end,
        }
        if confidence is not None:
            entity["confidence"] = round(confidence, 4)
        found.append(entity)
    return found


def to_json(sentence: Sentence, columns: Sequence[Column]) -> dict[str, Any]:
    """The JSON object of one tagged sentence."""
    record: dict[str, Any] = {
        "text": text_of(sentence),
        "tokens": [
            {"text": token, "start": start, "end": end}
            for token, (start, end) in zip(sentence.tokens, offsets(sentence), strict=True)
        ],
        "tags": {c.name: c.prediction.tags for c in columns},
    }
    scored = {c.name: c.prediction.scores for c in columns if c.prediction.scores is not None}
    if scored:
        record["scores"] = {name: [round(p, 4) for p in s] for name, s in scored.items()}
    nbest = {c.name: c.prediction.nbest for c in columns if c.prediction.nbest}
    if nbest:
        record["nbest"] = {
            name: [{"tags": tags, "probability": round(p, 4)} for tags, p in ranked]
            for name, ranked in nbest.items()
        }
    spans = [c for c in columns if c.spans]
    if spans:
        record["entities"] = {c.name: entities(sentence, c) for c in spans}
    return record


def write(
    out: IO[str], fmt: str, sentence: Sentence, columns: Sequence[Column], tag_field: str
) -> None:
    """Write one tagged sentence in `fmt` (any of `FORMATS` but `pretty`).

    Args:
        out: Text stream.
        fmt: Output format.
        sentence: The sentence as read.
        columns: Each model's predictions.
        tag_field: CoNLL-U field for the first model's tags.
    """
    if fmt == "conllu":
        # The first model fills `tag_field`; any others go to MISC under their names.
        extra = [(f"misc:{c.name.upper()}", c.prediction.tags) for c in columns[1:]]
        write_conllu(out, sentence, columns[0].prediction.tags, tag_field, extra)
    elif fmt == "jsonl":
        out.write(json.dumps(to_json(sentence, columns), ensure_ascii=False) + "\n")
    elif fmt == "inline":
        tags = [c.prediction.tags for c in columns]
        out.write(
            " ".join(
                "/".join([token, *(t[i] for t in tags)]) for i, token in enumerate(sentence.tokens)
            )
            + "\n"
        )
    else:
        rows = [c.prediction.tags for c in columns]
        rows += [[f"{p:.4f}" for p in c.prediction.scores or []] for c in columns]
        write_conll(out, sentence.tokens, [row for row in rows if row])
