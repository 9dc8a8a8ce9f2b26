"""Tagged sentences as text in each `--output` format: CoNLL columns, CoNLL-U, JSON lines and
inline `word/TAG`. (The `pretty` terminal view lives in `rnntag/console/pretty.py`, with the
other rich output.)"""

from __future__ import annotations

import dataclasses
import io
import json
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from rnntag.io.sentence import InputSentence
from rnntag.io.writers import ConlluMarks, conllu_marks, write_conll, write_conllu
from rnntag.tagging import tagged
from rnntag.tagging.tagged import Prediction, offsets, text_of

OutputFormat = Literal["conll", "conllu", "jsonl", "inline", "pretty"]
FORMATS: tuple[OutputFormat, ...] = typing.get_args(OutputFormat)


@dataclass
class Column:
    """One model's predictions for one sentence, under the name the user gave the model."""

    name: str
    prediction: Prediction
    spans: bool  # whether the model tags entities


def entities(sentence: InputSentence, column: Column) -> list[dict[str, Any]]:
    """The entities of a span model's prediction as JSON objects."""
    found = []
    for entity in tagged.entities(sentence, column.prediction):
        record = dataclasses.asdict(entity)
        score = record.pop("score")
        if score is not None:
            record["confidence"] = round(score, 4)
        found.append(record)
    return found


def to_json(sentence: InputSentence, columns: Sequence[Column]) -> dict[str, Any]:
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
    out: IO[str],
    fmt: str,
    sentence: InputSentence,
    columns: Sequence[Column],
    tag_field: str,
    marks: ConlluMarks | None = None,
) -> None:
    """Write one tagged sentence in `fmt` (any of `FORMATS` but `pretty`).

    Args:
        out: Text stream.
        fmt: Output format.
        sentence: The sentence as read.
        columns: Each model's predictions.
        tag_field: CoNLL-U field for the first model's tags.
        marks: For CoNLL-U, its sentence id and document and paragraph starts.
    """
    if fmt == "conllu":
        # The first model fills `tag_field`; any others go to MISC under their names.
        extra = [(f"misc:{c.name.upper()}", c.prediction.tags) for c in columns[1:]]
        write_conllu(out, sentence, columns[0].prediction.tags, tag_field, extra, marks)
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


def render(
    sentences: Sequence[InputSentence],
    columns: Sequence[Sequence[Column]],
    fmt: str,
    tag_field: str,
) -> str:
    """Tagged sentences as one piece of text in `fmt`, as `write` writes each.

    Args:
        sentences: The sentences as read.
        columns: Each sentence's columns, one per model.
        fmt: Output format.
        tag_field: CoNLL-U field for the first model's tags.
    """
    text = io.StringIO()
    marks: Sequence[ConlluMarks | None] = [None] * len(sentences)
    if fmt == "conllu":
        marks = conllu_marks(sentences)
    for sentence, sentence_columns, mark in zip(sentences, columns, marks, strict=True):
        write(text, fmt, sentence, sentence_columns, tag_field, mark)
    return text.getvalue()
