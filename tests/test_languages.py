"""Any language: the model records its data's language and the forms and abbreviations its
data writes whole, and plain text is split that way in every tagging path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, TINY_TRAINING, run, run_captured
from hypothesis import given
from hypothesis import strategies as st

import rnntag
from rnntag.io.language import guess_language
from rnntag.io.text import kept_abbreviations, split_text, stop_groups
from rnntag.serving.service import TaggingService

SPANISH = (
    "¿Dónde vive el Sr. García desde que volvió de Sevilla? La Sra. Pérez trabaja en Iberia."
    " El paro bajó un 3,5 por ciento en EE.UU. el lunes.\n"
)
SENTENCES = [
    ["¿", "Dónde", "vive", "el", "Sr.", "García", "desde", "que", "volvió", "de", "Sevilla", "?"],
    ["La", "Sra.", "Pérez", "trabaja", "en", "Iberia", "."],
    ["El", "paro", "bajó", "un", "3,5", "por", "ciento", "en", "EE.UU.", "el", "lunes", "."],
]


@pytest.fixture(scope="module")
def spanish_model(tmp_path_factory) -> Path:
    """A tiny NER model trained on the Spanish-like sample."""
    out = tmp_path_factory.mktemp("languages") / "es"
    assert run("train", DATA / "es-ner-train.conll", "-o", out, *TINY_TRAINING) == 0
    return out


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("the cat sat on the mat and looked at the dog in the garden", "en"),
        ("el gato se sentó en la alfombra y miró a los perros de la casa", "es"),
        ("de kat zat op de mat en keek naar het huis van een hond", "nl"),
        ("die Katze saß auf der Matte und sah den Hund mit dem Ball", "de"),
        ("12 34 56 78", "und"),
    ],
)
def test_the_language_is_guessed_from_the_commonest_words(text, lang):
    assert guess_language([text.split()]) == lang


def test_a_corpus_abbreviations_are_short_stopped_forms_that_never_end_a_sentence():
    corpus = [
        ["La", "Sra.", "Pérez", "vino", "."],
        ["La", "Sra.", "Ruiz", "no", "."],
        ["Tiene", "20", "años.", "hoy"],  # a word glued to its stop: `años` is commoner
        ["Vino", "de", "EE.UU.", "ayer"],
        ["Vive", "en", "EE.UU.", "."],  # ends a sentence
        ["años", "años", "años.", "."],
    ]
    assert kept_abbreviations(corpus) == ["Sra."]


@given(
    st.sampled_from(["Sra.", "tel.", "Dra."]),
    st.sampled_from(["Pérez", "García", "Ana"]),
    st.booleans(),
)
def test_no_sentence_ends_after_an_abbreviation_of_the_model(abbreviation, name, known):
    text = f"Vino la {abbreviation} {name} ayer. Luego se fue."
    given_ = frozenset([abbreviation]) if known else frozenset()
    sentences = [[t.text for t in s] for s in split_text(text, given_)]
    if known:
        assert len(sentences) == 2
        assert name in sentences[0]
    assert all(text[t.start : t.end] == t.text for s in split_text(text, given_) for t in s)


@given(st.lists(st.sampled_from(["Sra", ".", "Pérez", "3", "?", "EE.UU"]), max_size=10))
def test_a_stop_joins_the_word_it_touches_only_inside_a_sentence(tokens):
    offsets, at = [], 0
    for token in tokens:  # `.` touches what stands before it; the others stand apart
        at += 0 if token == "." else 1
        offsets.append((at, at + len(token)))
        at += len(token)
    groups = stop_groups(tokens, offsets, [range(i, i + 1) for i in range(len(tokens))])
    assert [i for g in groups for i in g] == list(range(len(tokens)))
    last_word = max((i for i, t in enumerate(tokens) if t[0].isalnum()), default=-1)
    for g in groups:
        if len(g) == 2:
            assert tokens[g.stop - 1] == "." and tokens[g.start][-1].isalpha()
            assert g.stop - 1 < last_word
        else:
            joinable = tokens[g.start] == "." and 0 < g.start < last_word
            assert not (joinable and tokens[g.start - 1][-1].isalpha())


def test_a_model_records_its_language_forms_and_abbreviations(spanish_model, capsys):
    config = json.loads((spanish_model / "config.json").read_text(encoding="utf-8"))
    assert config["lang"] == "es"
    assert "Sra." in config["abbreviations"]
    assert "EE.UU." in config["forms"]
    assert run("info", spanish_model) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "language es" in out


def test_lang_can_be_given(tmp_path):
    out = tmp_path / "m"
    options = [*TINY_TRAINING, "--epochs", "1", "--lang", "gl"]
    assert run("train", DATA / "es-ner-train.conll", "-o", out, *options) == 0
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["lang"] == "gl"


def test_spanish_plain_text_is_split_and_tagged_alike_in_every_path(spanish_model, tmp_path):
    tagger = rnntag.load(str(spanish_model))
    expected = tagger.tag(SPANISH)
    assert [[t.text for t in s.tokens] for s in expected] == SENTENCES
    tags = [[t.tag for t in s.tokens] for s in expected]
    assert ("García", "PER") in [(e.text, e.label) for s in expected for e in s.entities]

    source = tmp_path / "es.txt"
    source.write_text(SPANISH, encoding="utf-8")
    for options in ([], ["--workers", "2"]):
        result = run_captured("tag", "-m", spanish_model, "--output", "jsonl", *options, source)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [[t["text"] for t in s["tokens"]] for s in lines] == SENTENCES, options
        assert [s["tags"]["es"] for s in lines] == tags, options

    service = TaggingService([str(spanish_model)])
    (answer,) = service.tag([service.parse(json.dumps({"text": SPANISH}).encode())])
    assert [[t["text"] for t in s["tokens"]] for s in answer] == SENTENCES
    assert [s["tags"]["es"] for s in answer] == tags

    pytest.importorskip("onnxruntime")
    from rnntag.exporting.runtime import OnnxTagger

    onnx = tmp_path / "es.onnx"
    assert run("export", spanish_model, "--onnx", onnx) == 0
    # Plain text is one document: its sentences share the memory.
    assert OnnxTagger(onnx).tag(SENTENCES, [0] * len(SENTENCES)) == tags
