"""Ensembles (`-m A+B`): members with the same labels, scores averaged, decoded once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import rnntag
from rnntag.errors import RnntagError
from rnntag.model.modelfile import load_model
from rnntag.tagging.emissions import Clock, FeatureCache
from rnntag.tagging.ensemble import Ensemble
from rnntag.tagging.predict import BATCH_TOKENS
from rnntag.tagging.tagger import Tagger
from tests.conftest import DATA, TINY_TRAINING, run, run_captured

SENTENCES = [
    ["Ada", "Lovelace", "was", "born", "in", "London", "."],
    ["Grace", "Hopper", "works", "for", "Globex", "in", "Tokyo", "."],
    ["Paris"],
]


@pytest.fixture(scope="module")
def second_ner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny NER model like `tiny_models["ner"]`, from another seed."""
    out = tmp_path_factory.mktemp("ensemble") / "ner2"
    training = [*TINY_TRAINING[:-1], "2"]
    assert training[-2] == "--seed"
    train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
    assert run("train", train, "--dev", dev, "-o", out, *training) == 0
    return out


def _outputs(tagger: Tagger) -> list[tuple[list[str], list[float] | None, object]]:
    return [(p.tags, p.scores, p.spans) for p in tagger.predict(SENTENCES, scores=True)]


def test_an_ensemble_of_one_model_is_that_model(tiny_models):
    single = Tagger.load(tiny_models["ner"])
    info, network = load_model(tiny_models["ner"])
    assert _outputs(Tagger(info, Ensemble([(info, network)]))) == _outputs(single)


def test_an_ensemble_of_a_model_twice_is_that_model(tiny_models):
    ner = str(tiny_models["ner"])
    assert _outputs(rnntag.load(f"{ner}+{ner}")) == _outputs(rnntag.load(ner))


def test_two_members_average_emissions_and_crf(tiny_models, second_ner):
    members = [load_model(tiny_models["ner"]), load_model(second_ner)]
    ensemble = Ensemble(members)
    by_hand = []
    for info, network in members:
        cache = FeatureCache(network, Tagger(info, network).encoder)
        with torch.inference_mode():
            by_hand.append(list(cache.emissions(SENTENCES, None, BATCH_TOKENS, Clock(None))))
        assert ensemble.crf is not None and network.crf is not None
    with torch.inference_mode():
        averaged = list(ensemble.emissions(SENTENCES, None, BATCH_TOKENS, Clock(None)))
    assert len(averaged) == len(by_hand[0])
    for (indices, mean, mask), first, second in zip(averaged, *by_hand, strict=True):
        assert indices == first[0] == second[0]
        assert torch.equal(mask, first[2])
        torch.testing.assert_close(mean, (first[1] + second[1]) / 2)
    crfs = [network.crf for _, network in members]
    for name in ("transitions", "start_transitions", "end_transitions"):
        mean = sum(getattr(crf, name) for crf in crfs) / 2
        torch.testing.assert_close(getattr(ensemble.crf, name), mean)
    # The tags are the mean CRF's Viterbi path over the mean emissions.
    ner = rnntag.load(f"{tiny_models['ner']}+{second_ner}", output_scheme=members[0][0].scheme)
    indices, mean, mask = averaged[0]
    assert ensemble.crf is not None
    with torch.inference_mode():
        best = ensemble.crf.decode(mean, mask)[1]
    predicted = ner.predict(SENTENCES)
    for row, i in enumerate(indices):
        expected = [ner.encoder.labels[t] for t in best[row, : len(SENTENCES[i])].tolist()]
        assert predicted[i].tags == expected


def test_members_with_other_labels_are_refused(tiny_models):
    both = f"{tiny_models['ner']}+{tiny_models['pos']}"
    with pytest.raises(RnntagError, match="must share their labels and scheme") as caught:
        rnntag.load(both)
    assert "\n" not in str(caught.value)
    result = run_captured("tag", "-m", both, DATA / "sentences.txt")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "must share their labels and scheme" in result.stderr


def test_the_cli_and_the_api_give_the_same_tags(tiny_models, second_ner):
    both = f"{tiny_models['ner']}+{second_ner}"
    text = (DATA / "sentences.txt").read_text(encoding="utf-8")
    result = run_captured("tag", "-m", both, "--output", "jsonl", DATA / "sentences.txt")
    assert result.returncode == 0, result.stderr
    cli = [next(iter(json.loads(line)["tags"].values())) for line in result.stdout.splitlines()]
    api = [[t.tag for t in s.tokens] for s in rnntag.load(both).tag(text)]
    assert cli == api
    assert any(tag != "O" for tags in cli for tag in tags)
