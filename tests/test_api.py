"""The Python interface: `rnntag.load`, `Tagger.tag`, `tag_tokens`, `iter_tag`, `rnntag.train`.

The shipped models serve as models at hand; no test here asserts their particular tags
(tests/test_shipped_models.py does, and runs the docstring examples, which show them)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

import rnntag
from rnntag.cli import main
from rnntag.errors import RnntagError
from rnntag.io.formats import load_corpus
from rnntag.io.schemes import SCHEMES, convert
from rnntag.tagging.predict import BATCH_TOKENS, predict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ner() -> rnntag.Tagger:
    return rnntag.load("ner", device="cpu")


@pytest.fixture(scope="module")
def pos() -> rnntag.Tagger:
    return rnntag.load("pos", device="cpu")


@pytest.mark.parametrize("name", ["pos", "ner"])
def test_probabilities_of_a_long_sentence_are_probabilities(name, ner, pos):
    # A few hundred tokens of running text: float32 scoring gave probabilities of 1.0002.
    tokens = [t for s in load_corpus(str(ROOT / "data" / "ner-dev.conll")) for t in s.tokens]
    (prediction,) = {"ner": ner, "pos": pos}[name].predict([tokens[:300]], scores=True, nbest=3)

    assert prediction.scores is not None
    assert all(0 <= p <= 1 for p in prediction.scores)
    assert all(0 <= p <= 1 for *_, p in prediction.spans)
    assert sum(p for _, p in prediction.nbest) <= 1


def test_tag_gives_offsets_into_the_text(ner):
    text = "  Angela Merkel flew to Washington.\n\nShe met Joe Biden there. "
    sentences = ner.tag(text)
    assert len(sentences) == 2
    for sentence in sentences:
        for token in sentence.tokens:
            assert text[token.start : token.end] == token.text
        for entity in sentence.entities:
            assert text[entity.start : entity.end] == entity.text
    assert sentences[0].text == "Angela Merkel flew to Washington."
    assert sentences[1].text == "She met Joe Biden there."


def test_scores_are_probabilities_only_when_asked_for(ner):
    plain = ner.tag("Paris is in France.")[0]
    scored = ner.tag("Paris is in France.", scores=True)[0]
    assert all(t.score is None for t in plain.tokens)
    assert all(e.score is None for e in plain.entities)
    assert all(0.0 < t.score <= 1.0 for t in scored.tokens)  # type: ignore[operator]
    assert all(0.0 < e.score <= 1.0 for e in scored.entities)  # type: ignore[operator]
    assert [t.tag for t in plain.tokens] == [t.tag for t in scored.tokens]


def test_tag_tokens_keeps_every_sentence_in_order(pos):
    sentences = pos.tag_tokens([["Dogs", "bark", "."], [], ("Run", "!")])
    assert [[t.text for t in s.tokens] for s in sentences] == [
        ["Dogs", "bark", "."],
        [],
        ["Run", "!"],
    ]
    first = sentences[0]
    assert first.text == "Dogs bark ."
    assert [(t.start, t.end) for t in first.tokens] == [(0, 4), (5, 9), (10, 11)]
    # A POS model has tags but no entities.
    assert first.entities == []
    assert {t.tag for s in sentences for t in s.tokens} <= set(pos.info.vocab.labels)


def test_iter_tag_is_lazy(ner):
    def endless():
        for number in itertools.count():
            yield f"Sentence {number} mentions London."

    first = list(itertools.islice(ner.iter_tag(endless()), 3))
    assert [s.text for s in first] == [f"Sentence {n} mentions London." for n in range(3)]
    # Offsets count from each text's own start: as each text tagged alone gives them.
    for sentence in first:
        (alone,) = ner.tag(sentence.text)
        assert sentence.tokens == alone.tokens and sentence.entities == alone.entities


def test_tag_agrees_with_the_command_line_output(ner, capsys):
    text = ROOT / "data" / "sentences.txt"
    try:
        main(["tag", "-m", "ner", "--output", "jsonl", str(text)])
    except SystemExit as exc:
        assert not exc.code
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ours = ner.tag(text.read_text(encoding="utf-8"), scores=True)
    assert [r["tags"]["ner"] for r in records] == [[t.tag for t in s.tokens] for s in ours]
    assert [
        [(e["text"], e["label"], e["start"]) for e in r["entities"]["ner"]] for r in records
    ] == [[(e.text, e.label, e.start) for e in s.entities] for s in ours]


def test_train_returns_a_tagger_and_takes_the_command_line_settings(tmp_path, data_dir):
    threads = torch.get_num_threads()
    tagger = rnntag.train(
        data_dir / "ner-train.conll",
        tmp_path / "model",
        dev=data_dir / "ner-dev.conll",
        epochs=2,
        hidden_size=12,
        char_encoder="lstm",
        seed=5,
        threads=1,
    )
    # The setting held for the training alone.
    assert torch.get_num_threads() == threads
    assert tagger.info.model.hidden_size == 12
    assert tagger.info.model.char_encoder == "lstm"
    assert tagger.info.train.epochs == 2
    assert len((tmp_path / "model" / "metrics.jsonl").read_text().splitlines()) == 2
    assert tagger.tag_tokens([["Ada", "went", "home"]])[0].tokens[0].tag


def test_train_can_show_its_progress(tmp_path, data_dir, capsys):
    rnntag.train(data_dir / "ner-train.conll", tmp_path / "model", epochs=1, hidden_size=8)
    assert capsys.readouterr().err == ""
    rnntag.train(
        data_dir / "ner-train.conll", tmp_path / "shown", epochs=1, hidden_size=8, progress=True
    )
    err = capsys.readouterr().err
    assert "training on 120 sentences" in err and "epoch 1/1" in err


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"hidden": 3}, TypeError, "unexpected setting 'hidden'"),
        ({"rnn": "transformer"}, RnntagError, "must be one of lstm, gru, rnn"),
        ({"scheme": "BILOU"}, RnntagError, "scheme must be one of"),
    ],
)
def test_train_refuses_bad_settings_before_reading_data(tmp_path, settings, error, message):
    with pytest.raises(error, match=message):
        rnntag.train(tmp_path / "no-such-file.conll", tmp_path / "model", **settings)


def test_train_keeps_an_existing_model_unless_forced(tmp_path, data_dir):
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(RnntagError, match="already holds a model"):
        rnntag.train(data_dir / "ner-train.conll", out, epochs=1)
    assert (out / "config.json").read_text(encoding="utf-8") == "{}"


@pytest.mark.parametrize("name", ["ner", "pos"])
@pytest.mark.parametrize("scores", [False, True])
def test_batching_differently_gives_identical_predictions(name, scores, data_dir):
    tagger = rnntag.load(name, device="cpu")
    sentences = [
        s.tokens
        for path in ("ner-dev.conll", "pos-dev.conllu", "tricky.conll")
        for s in load_corpus(str(data_dir / path))
    ]
    predictions = [
        predict(tagger.model, tagger.encoder, sentences, scores, max_tokens=max_tokens)
        for max_tokens in (1, 9, 100, BATCH_TOKENS)
    ]
    alone = predictions[0]
    for batched in predictions[1:]:
        assert [p.tags for p in batched] == [p.tags for p in alone]
        if scores:
            for a, b in zip(alone, batched, strict=True):
                assert b.scores == pytest.approx(a.scores, abs=1e-4)
                assert [s[:3] for s in b.spans] == [s[:3] for s in a.spans]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("scores", [False, True])
def test_tags_in_another_scheme_are_the_model_tags_converted(ner, scheme, scores, data_dir):
    sentences = [s.tokens for s in load_corpus(str(data_dir / "ner-dev.conll"))]
    # A small budget makes padded batches, whose sentence ends the conversion must find.
    plain, converted = (
        predict(ner.model, ner.encoder, sentences, scores, 40, nbest=2, scheme=target)
        for target in (None, scheme)
    )
    for a, b in zip(plain, converted, strict=True):
        assert b.tags == convert(a.tags, scheme)
        assert [tags for tags, _ in b.nbest] == [convert(tags, scheme) for tags, _ in a.nbest]
        assert b.spans == a.spans
