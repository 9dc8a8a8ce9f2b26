"""Truncated backpropagation through time: how long sentences become training windows, that
training memory is bounded by them, and that sentences no longer than a window train
exactly as without it."""

from __future__ import annotations

import pytest
import torch
from conftest import DATA, TINY_TRAINING, run
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from rnntag.tagging.tagger import Tagger
from rnntag.training.windows import plan_windows


@given(st.lists(st.integers(1, 300), min_size=1, max_size=6), st.integers(8, 64))
def test_window_cores_tile_each_sentence_once(lengths, size):
    windows = plan_windows(lengths, size)
    for i, length in enumerate(lengths):
        mine = [w for w in windows if w.sentence == i]
        covered = [k for w in mine for k in range(w.scored_start, w.scored_end)]
        assert covered == list(range(length))
        for w in mine:
            assert 0 <= w.start <= w.scored_start < w.scored_end <= w.end <= length
            assert w.end - w.start <= size
        if length <= size:
            assert [(w.start, w.end) for w in mine] == [(0, length)]


def test_no_windows_without_a_limit():
    assert [(w.start, w.end) for w in plan_windows([5000, 3], 0)] == [(0, 5000), (0, 3)]


def test_windows_longer_than_every_sentence_train_exactly_the_same_weights(tmp_path):
    train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
    weights = []
    for bptt in ("0", "1000"):
        out = tmp_path / bptt
        options = [*TINY_TRAINING, "--epochs", "2", "--bptt", bptt]
        assert run("train", train, "--dev", dev, "-o", out, *options) == 0
        weights.append(load_file(out / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    """A tiny model trained on the samples joined into one sentence, in windows of 16."""
    folder = tmp_path_factory.mktemp("windows")
    rows = [
        line for line in (DATA / "ner-train.conll").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("-DOCSTART-")
    ]  # fmt: skip
    long = folder / "long.conll"
    long.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = folder / "model"
    options = [*TINY_TRAINING, "--epochs", "3", "--bptt", "16", "--no-doc-memory"]
    assert run("train", long, "-o", out, *options) == 0
    return out, [row.split()[0] for row in rows]


def test_a_model_trained_in_windows_tags_a_long_sentence_whole(long_model):
    out, tokens = long_model
    # In the scheme it learned in, so that its labels are the network's own.
    tagger = Tagger.load(str(out), output_scheme="IOBES")
    (prediction,) = tagger.predict([tokens])
    # The whole sentence through the network and the CRF at once, as one batch.
    batch = tagger.encoder.batch([tokens])
    with torch.no_grad():
        best = tagger.model.decode(tagger.model(batch), batch.mask)[0].tolist()
    assert prediction.tags == [tagger.encoder.labels[k] for k in best]
    assert len(prediction.tags) == len(tokens) > 16
