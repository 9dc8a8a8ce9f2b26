"""Plain text in the token convention of each model: hyphenated compounds joined for a model
that learned them whole, its predictions spread back over the pieces."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import run
from hypothesis import given, settings
from hypothesis import strategies as st

import rnntag
from rnntag.io.schemes import SCHEMES, from_spans, is_well_formed, to_spans
from rnntag.io.text import hyphen_convention, hyphen_groups, split_text
from rnntag.tagging.conventions import joined, spread
from rnntag.tagging.tagged import Prediction

NAMES = "Jean-Luc Picard met Mary-Kate Olsen and Hans-Dietrich Genscher in Baden-Württemberg."


def cuts_a_compound(text: str, start: int, end: int) -> bool:
    """Whether the stretch `text[start:end]` begins or ends at a hyphen inside a word. (Which
    entities the shipped model finds there is tests/test_shipped_models.py's question.)"""
    return "-" in text[max(start - 1, 0) : start + 1] + text[end - 1 : end + 1]


@st.composite
def joined_sentences(draw) -> tuple[list[range], list[tuple[str, int, int]]]:
    """Groups of 1 to 5 pieces, and non-overlapping spans over the joined tokens."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=8))
    starts = [0, *itertools.accumulate(sizes)]
    groups = [range(a, b) for a, b in itertools.pairwise(starts)]
    cuts = sorted(draw(st.sets(st.integers(0, len(groups)))) | {0, len(groups)})
    spans = [
        (draw(st.sampled_from(["PER", "LOC"])), a, b)
        for a, b in itertools.pairwise(cuts)
        if draw(st.booleans())
    ]
    return groups, spans


@given(joined_sentences(), st.sampled_from(SCHEMES))
def test_spreading_keeps_every_span_whole_and_well_formed(case, scheme):
    groups, spans = case
    tags = from_spans(spans, len(groups), scheme)
    scored = [(kind, a, b, 0.5) for kind, a, b in spans]
    prediction = Prediction(tags, [0.9] * len(tags), scored, [(tags, 0.7)])

    pieces = spread(prediction, groups, scheme)

    expected = [(kind, groups[a].start, groups[b - 1].stop) for kind, a, b in spans]
    assert to_spans(pieces.tags) == expected
    assert is_well_formed(pieces.tags, scheme)
    assert [s[:3] for s in pieces.spans] == expected
    assert pieces.scores == [0.9] * groups[-1].stop
    assert pieces.nbest == [(pieces.tags, 0.7)]


def test_plain_tags_are_copied_to_every_piece():
    prediction = Prediction(["PROPN", "VERB"])
    assert spread(prediction, [range(0, 3), range(3, 4)], None).tags == ["PROPN"] * 3 + ["VERB"]


def test_only_touching_hyphenated_pieces_are_grouped():
    (sentence,) = split_text("Jean-Luc met a 15-year-old, then left - fast.")
    tokens = [t.text for t in sentence]
    groups = hyphen_groups(tokens, [(t.start, t.end) for t in sentence])
    assert joined(tokens, groups) == ["Jean-Luc", "met", "a", "15-year-old", ",", "then", "left",
                                      "-", "fast", "."]  # fmt: skip


def test_a_corpus_that_keeps_compounds_whole_is_told_from_one_that_splits_them():
    conll = [["Jean-Luc", "Picard", "won", "2-1", "."]] * 3 + [["word"] * 100]
    ud = [["Jean", "-", "Luc", "sent", "an", "e-mail", "."], ["word"] * 500]
    assert (hyphen_convention(conll), hyphen_convention(ud)) == ("whole", "split")


@pytest.mark.parametrize("models", [["ner"], ["pos", "ner"]], ids=["ner", "pos+ner"])
def test_hyphenated_names_in_plain_text_come_out_whole(capsys, tmp_path, models):
    text = tmp_path / "names.txt"
    text.write_text(NAMES + "\n", encoding="utf-8")
    flags = [f"-m{m}" for m in models]
    assert run("tag", *flags, "--output", "jsonl", text) == 0

    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    entities = record["entities"]["ner"]
    assert all(NAMES[e["start"] : e["end"]] == e["text"] for e in entities)
    assert not any(cuts_a_compound(NAMES, e["start"], e["end"]) for e in entities)
    # Beside the POS model, on its split tokens, the NER model sees and finds the same.
    (alone,) = rnntag.load("ner").tag(NAMES)
    assert [(e.text, e.label, e.start, e.end) for e in alone.entities] == [
        (e["text"], e["label"], e["start"], e["end"]) for e in entities
    ]
    # Alone, the model prints the tokens it saw; beside the POS model, every model's tags
    # stand on the same tokens, split as UD English splits them.
    first = ["Jean-Luc", "Picard"] if models == ["ner"] else ["Jean", "-", "Luc", "Picard"]
    assert [t["text"] for t in record["tokens"]][: len(first)] == first
    assert all(len(tags) == len(record["tokens"]) for tags in record["tags"].values())


PIECES = ["Jean-Luc", "O'Connor", "Baden-Württemberg", "D'Angelo", "met", "in", "Paris", "the"]
PIECES += ["Coeur", "d'Alene", "McDonald's", "U.S.", "1-0", "well-known", "-", ",", "Mary-Kate"]


@settings(deadline=None, max_examples=40)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12))
def test_tokens_a_model_prints_are_tagged_the_same_when_fed_back(words):
    text = " ".join(words) + " ."
    for name in ["ner", "pos"]:
        tagger = rnntag.load(name)
        printed = [s for s in tagger.tag(text) if s.tokens]
        tokens = [[t.text for t in s.tokens] for s in printed]
        again = tagger.tag_tokens(tokens)
        assert [[t.tag for t in s.tokens] for s in again] == [
            [t.tag for t in s.tokens] for s in printed
        ]
        assert all(text[t.start : t.end] == t.text for s in printed for t in s.tokens)


def test_jsonl_tokens_fed_back_through_the_cli_and_onnx_give_the_same_tags(capsys, tmp_path):
    text = tmp_path / "names.txt"
    text.write_text(NAMES + " Sinead O'Connor saw D'Angelo in Coeur d'Alene.\n", encoding="utf-8")
    assert run("tag", "-m", "ner", "--output", "jsonl", text) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    tokens = [[t["text"] for t in r["tokens"]] for r in records]
    tags = [r["tags"]["ner"] for r in records]
    fed = tmp_path / "tokens.txt"
    fed.write_text("".join(" ".join(t) + "\n" for t in tokens), encoding="utf-8")
    assert run("tag", "-m", "ner", "--input", "tokens", "--output", "jsonl", fed) == 0
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tags"]["ner"] for r in again] == tags
    pytest.importorskip("onnxruntime")
    from rnntag.exporting.runtime import OnnxTagger

    onnx = tmp_path / "ner.onnx"
    assert run("export", "ner", "--onnx", onnx) == 0
    assert OnnxTagger(onnx).tag(tokens) == tags


def test_the_python_interface_joins_them_too():
    sentence = rnntag.load("ner").tag(NAMES)[0]
    assert [t.text for t in sentence.tokens][:2] == ["Jean-Luc", "Picard"]
    assert not any(cuts_a_compound(NAMES, t.start, t.end) for t in sentence.tokens)
    assert not any(cuts_a_compound(NAMES, e.start, e.end) for e in sentence.entities)


def test_a_model_sees_the_forms_its_data_keeps_whole(tmp_path):
    import json

    from conftest import TINY_TRAINING, run

    import rnntag

    rows = []
    for place, who in [
        ("'s-Hertogenbosch", "Anna"),
        ("Den Haag", "Piet"),
        ("'s-Gravenhage", "Kees"),
    ]:
        for _ in range(3):
            rows += [f"{who}\tB-PER", "woont\tO", "in\tO"]
            rows += [f"{w}\t{'B' if i == 0 else 'I'}-LOC" for i, w in enumerate(place.split())]
            rows += [".\tO", ""]
    train = tmp_path / "nl.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "m"
    assert run("train", train, "-o", out, *TINY_TRAINING, "--epochs", "30") == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["forms"] == ["'s-Gravenhage", "'s-Hertogenbosch"]
    tagger = rnntag.load(str(out))
    (sentence,) = tagger.tag("Anna woont in 's-Hertogenbosch.")
    # Plain text splits it in four pieces; the model sees it whole and prints what it saw.
    assert [t.text for t in sentence.tokens][3:5] == ["'s-Hertogenbosch", "."]
    assert [(e.text, e.label) for e in sentence.entities] == [
        ("Anna", "PER"),
        ("'s-Hertogenbosch", "LOC"),
    ]


def test_a_kept_form_and_a_hyphen_make_one_compound():
    # Dutch data keeps `'s` whole and hyphenated compounds whole: so `'s-Hertogenbosch`,
    # which it never wrote, reaches the model as one token.
    tagger = rnntag.load("ner")
    tagger._forms = frozenset(["'s"])
    (sentence,) = tagger.tag("Hij woont in 's-Hertogenbosch.")
    assert [t.text for t in sentence.tokens] == ["Hij", "woont", "in", "'s-Hertogenbosch", "."]
