"""Acceptance of the shipped Spanish and Dutch models: the sentences their model cards and
the README show come out with whole tokens and their entities through plain text, the API
and `serve`. Retraining a model reruns these; they say what any release must still do."""

from __future__ import annotations

import json

import pytest
from conftest import run

import rnntag
from rnntag.serving.service import TaggingService

CASES = [
    (
        "es-ner",
        "¿Dónde vive el Sr. García desde que volvió de Sevilla?",
        ["¿", "Dónde", "vive", "el", "Sr.", "García", "desde", "que", "volvió", "de"],
        [("García", "PER"), ("Sevilla", "LOC")],
    ),
    (
        "nl-ner",
        "Jan de Vries woont al jaren in 's-Hertogenbosch en werkt bij Philips in Eindhoven.",
        ["Jan", "de", "Vries", "woont", "al", "jaren", "in", "'s-Hertogenbosch", "en"],
        [("Jan de Vries", "PER"), ("'s-Hertogenbosch", "LOC"), ("Philips", "ORG")],
    ),
]


def _found(entities: list[tuple[str, str]], wanted: list[tuple[str, str]]) -> bool:
    """Every wanted entity is found, as such or inside a found one of its type (a title
    such as `Sr.`, which the data never shows, may join the name)."""
    return all(
        any(label == kind and text in found for found, kind in entities) for text, label in wanted
    )


@pytest.mark.parametrize(("model", "text", "tokens", "entities"), CASES, ids=["es", "nl"])
def test_shipped_models_split_and_tag_their_language(
    capsys, tmp_path, model, text, tokens, entities
):
    source = tmp_path / "input.txt"
    source.write_text(text + "\n", encoding="utf-8")
    assert run("tag", "-m", model, "--output", "jsonl", source) == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [t["text"] for t in line["tokens"]][: len(tokens)] == tokens
    found = [(e["text"], e["label"]) for e in line["entities"][model]]
    assert _found(found, entities), found

    (sentence,) = rnntag.load(model).tag(text)
    assert [(e.text, e.label) for e in sentence.entities] == found
    service = TaggingService([model])
    (answer,) = service.tag([service.parse(json.dumps({"text": text}).encode())])
    assert answer == [line]
