"""Acceptance tests of the shipped models (models/): what each release of `ner`, `pos`,
`es-ner` and `nl-ner` must still do, in exact tags and entities.

These are the only tests that assert the shipped models' own predictions; every other test
holds whatever weights a model has. Retraining a shipped model reruns this module
(`python -m pytest tests/test_shipped_models.py`), and a change here is made deliberately,
with the retrained model, never to make a unit test pass. The examples in the docstrings of
`rnntag`, `rnntag.api` and `rnntag.tagging.tagger` show the shipped models' output too, and
run here.
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
from conftest import run

import rnntag
import rnntag.api
import rnntag.tagging.tagger
from rnntag.model.directory import read_info, resolve_model
from rnntag.serving.service import TaggingService

ROOT = Path(__file__).resolve().parent.parent

LANGUAGES = [
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
# Hyphenated names reach the English NER model whole, as CoNLL-2003 writes them.
NAMES = "Jean-Luc Picard met Mary-Kate Olsen and Hans-Dietrich Genscher in Baden-Württemberg."
WHOLE = [
    ("Jean-Luc Picard", "PER"),
    ("Mary-Kate Olsen", "PER"),
    ("Hans-Dietrich Genscher", "PER"),
    ("Baden-Württemberg", "LOC"),
]
ENTITIES = [
    ("Ada Lovelace was born in London.", [("Ada Lovelace", "PER"), ("London", "LOC")]),
    ("She met Joe Biden there.", [("Joe Biden", "PER")]),
    ("Sentence 2 mentions London.", [("London", "LOC")]),
    (NAMES, WHOLE),
]
TAGS = [
    ("ner", "Ada Lovelace was born in London .", ["B-PER", "I-PER", "O", "O", "O", "B-LOC", "O"]),
    ("pos", "Dogs bark .", ["NOUN", "VERB", "PUNCT"]),
    ("pos", "Ada Lovelace was born", ["PROPN", "PROPN", "AUX", "VERB"]),
]


def _found(entities: list[tuple[str, str]], wanted: list[tuple[str, str]]) -> bool:
    """Every wanted entity is found, as such or inside a found one of its type (a title
    such as `Sr.`, which the data never shows, may join the name)."""
    return all(
        any(label == kind and text in found for found, kind in entities) for text, label in wanted
    )


@pytest.mark.parametrize(("model", "text", "tokens", "entities"), LANGUAGES, ids=["es", "nl"])
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


@pytest.mark.parametrize(("text", "entities"), ENTITIES)
def test_the_english_ner_model_finds_these_entities(text, entities):
    (sentence,) = rnntag.load("ner", device="cpu").tag(text)
    assert [(e.text, e.label) for e in sentence.entities] == entities


@pytest.mark.parametrize("models", [["ner"], ["pos", "ner"]], ids=["ner", "pos+ner"])
def test_hyphenated_names_come_out_whole_and_right_on_the_command_line(capsys, tmp_path, models):
    text = tmp_path / "names.txt"
    text.write_text(NAMES + "\n", encoding="utf-8")
    assert run("tag", *[f"-m{m}" for m in models], "--output", "jsonl", text) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["text"], e["label"]) for e in record["entities"]["ner"]] == WHOLE


@pytest.mark.parametrize(("model", "text", "tags"), TAGS)
def test_the_english_models_give_these_tags(model, text, tags):
    (sentence,) = rnntag.load(model, device="cpu").tag_tokens([text.split()])
    assert [t.tag for t in sentence.tokens] == tags


def test_the_shipped_models_keep_their_document_memory():
    assert read_info(resolve_model("ner")).model.doc_memory == "on"
    assert read_info(resolve_model("pos")).model.doc_memory == "off"


@pytest.mark.parametrize("module", [rnntag, rnntag.api, rnntag.tagging.tagger])
def test_docstring_examples_run(module, monkeypatch):
    # The examples name the sample files relative to the repository root.
    monkeypatch.chdir(ROOT)
    failed, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0
    assert failed == 0
