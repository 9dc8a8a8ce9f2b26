"""What a document is in each input, the same in every tagging path; memory dropout in
training; a document-memory model scored with documents and with each sentence alone."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from conftest import DATA, TINY_TRAINING, run, run_captured
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnntag
from rnntag.evaluation.scoring import score
from rnntag.io.chunks import chunks
from rnntag.io.plaintext import read_text, text_lines
from rnntag.io.sentence import InputSentence
from rnntag.model.documents import document_groups
from rnntag.model.encode import EncodedSentences
from rnntag.serving.service import TaggingService
from rnntag.tagging.tagger import Tagger

# A story whose headline is a paragraph of its own, and names that recur: the memory has
# something to pool, across paragraphs, and between texts if they were wrongly joined.
STORY = (
    "Ada Lovelace in London\n\n"
    "Ada Lovelace met Charles Babbage in London on Monday. Babbage showed Ada his engine.\n\n"
    "Later, Lovelace wrote notes on it. Charles said London was cold.\n"
)
OTHER = "Babbage left London. Ada stayed in Oslo with Lovelace.\n"
words = st.sampled_from(["Ada", "ada", "Oslo", "met", "in", "London", "."])
separators = st.sampled_from(["\n", "\n\n", "\r\n", "\r", " ", "\f", "\v", "\u2028", "\x1c"])


@pytest.fixture(scope="module")
def memory_model(tmp_path_factory) -> Path:
    """A tiny NER model with a document memory, trained with memory dropout."""
    out = tmp_path_factory.mktemp("documents") / "ner"
    train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
    options = [*TINY_TRAINING, "--epochs", "3", "--doc-memory", "--doc-dropout", "0.5"]
    assert run("train", train, "--dev", dev, "-o", out, *options) == 0
    return out


def test_a_plain_text_document_is_the_whole_text_headline_included():
    sentences = list(read_text(io.StringIO(STORY), "x"))
    assert len(sentences) == 5
    assert {s.document for s in sentences} == {1}


@given(
    st.lists(st.one_of(st.none(), st.integers(0, 4)), max_size=60),
    st.integers(1, 8),
)
def test_chunks_end_between_documents_unless_one_runs_past_twice_the_size(documents, size):
    sentences = [InputSentence(["x"], document=d) for d in sorted(documents, key=str)]
    cut = list(chunks(sentences, size))
    assert [s for chunk in cut for s in chunk] == sentences
    for chunk, following in itertools.pairwise(cut):
        assert size <= len(chunk) <= 2 * size
        same = chunk[-1].document is not None and chunk[-1].document == following[0].document
        assert not same or len(chunk) == 2 * size


@given(st.lists(st.tuples(st.lists(words, min_size=1, max_size=4), separators), max_size=12))
def test_api_text_is_split_into_lines_as_a_file_is(pieces):
    text = "".join(" ".join(tokens) + separator for tokens, separator in pieces)
    from_file = list(read_text(io.TextIOWrapper(io.BytesIO(text.encode()), newline=""), "x"))
    from_api = list(read_text(text_lines(text), "x"))
    assert [(s.tokens, s.offsets, s.document) for s in from_api] == [
        (s.tokens, s.offsets, s.document) for s in from_file
    ]


def test_documents_shown_alone_are_grouped_as_sentences_without_documents(memory_model):
    tagger = Tagger.load(str(memory_model))
    sentences = [["Ada", "met", "Oslo"], ["Ada", "left"], ["Oslo", "Ada"], ["Ada"]]
    documents = [1, 1, 2, 2]
    encoded_in_documents = EncodedSentences(
        tagger.encoder, sentences, [["O"] * len(s) for s in sentences], documents
    )
    indices = [0, 1, 2, 3]
    # Document 1 shown as sentences, document 2 whole.
    alone = [True, True, False, False]
    got = encoded_in_documents.batch(indices, alone).groups
    assert got is not None
    expected = document_groups(sentences, [None, None, 2, 2])
    flat = [int(g) for row, s in zip(got, sentences, strict=True) for g in row[: len(s)]]
    # The same partition of the tokens, whatever the numbers.
    assert len(set(zip(flat, expected, strict=True))) == len(set(flat)) == len(set(expected))


def test_training_logs_and_eval_reports_both_situations(memory_model, tmp_path):
    lines = (memory_model / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        situations = record["dev_situations"]
        assert set(situations) == {"documents", "sentences"}
        assert record["dev_score"] == pytest.approx(sum(situations.values()) / 2)
    gold = str(DATA / "ner-dev.conll")
    by_file = score(gold, model=str(memory_model))
    alone = score(gold, model=str(memory_model), documents="sentence")
    assert by_file.situations == alone.situations
    assert by_file.situations is not None
    assert by_file.result.headline()[1] == by_file.situations["documents"]
    assert alone.result.headline()[1] == by_file.situations["sentences"]
    result = run_captured("eval", "-m", memory_model, gold, "--documents", "sentence", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["situations"] == by_file.situations
    printed = run_captured("eval", "-m", memory_model, gold)
    assert "with each sentence alone" in " ".join(printed.stdout.split())


def test_a_model_without_memory_has_one_situation(tiny_models):
    scored = score(str(DATA / "pos-dev.conllu"), model=str(tiny_models["pos"]))
    assert scored.situations is None


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from([STORY, OTHER, "Ada.\n\nOslo Ada.\n", "\n"]), min_size=1, max_size=4)
)
def test_iter_tag_tags_each_text_as_if_alone(memory_model, texts):
    tagger = rnntag.load(str(memory_model))
    together = list(tagger.iter_tag(texts, scores=True))
    alone = [s for text in texts for s in tagger.tag(text, scores=True)]
    # Scores, not only tags: a memory pooled across texts changes them first.
    assert [[(t.tag, round(t.score or 0, 5)) for t in s.tokens] for s in together] == [
        [(t.tag, round(t.score or 0, 5)) for t in s.tokens] for s in alone
    ]


def _tags(objects: list[dict]) -> list[list[str]]:
    """The tags of `rnntag tag --output jsonl` lines, or of a `serve` answer, of one model."""
    return [next(iter(sentence["tags"].values())) for sentence in objects]


def test_every_path_gives_the_same_tags_for_the_same_document(memory_model, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    assert onnxruntime
    source = tmp_path / "story.txt"
    source.write_text(STORY, encoding="utf-8")
    tagger = rnntag.load(str(memory_model))
    expected = [[t.tag for t in s.tokens] for s in tagger.tag(STORY)]
    # The document is what the memory sees: the story tagged paragraph by paragraph differs.
    apart = [[t.tag for t in s.tokens] for p in STORY.split("\n\n") for s in tagger.tag(p)]
    scores = [[t.score for t in s.tokens] for s in tagger.tag(STORY, scores=True)]
    apart_scores = [
        [t.score for t in s.tokens] for p in STORY.split("\n\n") for s in tagger.tag(p, True)
    ]
    assert scores != apart_scores or expected != apart

    for options in ([], ["--workers", "2"]):
        result = run_captured("tag", "-m", memory_model, "--output", "jsonl", *options, source)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert _tags(lines) == expected, options

    assert [[t.tag for t in s.tokens] for s in tagger.iter_tag([STORY])] == expected
    service = TaggingService([str(memory_model)])
    request = service.parse(json.dumps({"text": STORY}).encode())
    (answer,) = service.tag([request])
    assert _tags(answer) == expected

    from rnntag.exporting.runtime import OnnxTagger

    onnx = tmp_path / "model.onnx"
    assert run("export", memory_model, "--onnx", onnx) == 0
    read = list(read_text(text_lines(STORY), "x"))
    tagged = OnnxTagger(onnx).tag([s.tokens for s in read], [s.document for s in read])
    assert [list(t) for t in tagged] == expected


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.lists(words, min_size=1, max_size=5), separators), max_size=10))
def test_cli_api_and_serve_split_any_text_alike(memory_model, tmp_path, pieces):
    text = "".join(" ".join(tokens) + separator for tokens, separator in pieces)
    source = tmp_path / "input.txt"
    source.write_bytes(text.encode("utf-8"))
    result = run_captured("tag", "-m", memory_model, "--output", "jsonl", source)
    assert result.returncode == 0, result.stderr
    # JSON lines end at LF; U+2028 may stand inside a string.
    from_cli = [json.loads(line) for line in result.stdout.split("\n") if line]
    tagger = rnntag.load(str(memory_model))
    from_api = tagger.tag(text)
    assert [[t["text"] for t in s["tokens"]] for s in from_cli] == [
        [t.text for t in s.tokens] for s in from_api
    ]
    assert _tags(from_cli) == [[t.tag for t in s.tokens] for s in from_api]
    service = TaggingService([str(memory_model)])
    (answer,) = service.tag([service.parse(json.dumps({"text": text}).encode())])
    assert answer == from_cli
