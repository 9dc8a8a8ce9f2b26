"""Knowledge distillation (`rnntag train --teacher`): the loss against enumeration, the
weight's ends, the unlabelled sentences, and what is refused."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import DATA, TINY_TRAINING, run

import rnntag
from rnntag.errors import UsageError
from rnntag.io.conll import read_conll
from rnntag.model.crf import CRF
from rnntag.training.distill import cross_entropy, log_marginals
from rnntag.training.signals import TrainingInterrupted

# Short trainings: the tests compare weights, not scores.
SHORT = {"epochs": 1, "hidden_size": 8, "word_dim": 8, "char_hidden": 8, "batch_size": 16}
SHORT = SHORT | {"threads": 1, "seed": 1}
# Long enough to learn the samples (as `TINY_TRAINING`).
TINY = SHORT | {"epochs": 12, "hidden_size": 32, "word_dim": 32, "batch_size": 8, "lr_decay": 0.0}


def _brute_marginals(crf: CRF, emissions: torch.Tensor, length: int) -> torch.Tensor:
    """(length, num_tags) tag probabilities of one sentence, by enumerating every path."""
    num_tags = emissions.size(1)
    scores = {}
    for path in itertools.product(range(num_tags), repeat=length):
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[t, path[t]] for t in range(length))
        score = score + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))
        scores[path] = score
    log_z = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
    marginals = torch.zeros(length, num_tags, dtype=emissions.dtype)
    for path, score in scores.items():
        for t, tag in enumerate(path):
            marginals[t, tag] += torch.exp(score - log_z)
    return marginals


@pytest.mark.parametrize("num_tags", [1, 2, 4])
def test_the_distillation_loss_is_the_cross_entropy_of_enumerated_marginals(generator, num_tags):
    lengths = [4, 1, 3]
    crf = CRF(num_tags).double()
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.double))
    emissions = torch.randn(3, 4, num_tags, generator=generator, dtype=torch.double)
    mask = torch.arange(4).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    targets = torch.softmax(torch.randn(3, 4, num_tags, generator=generator), dim=2).double()
    targets = torch.where(mask.unsqueeze(2), targets, 0.0)
    model = SimpleNamespace(crf=crf)

    loss = cross_entropy(log_marginals(model, emissions, mask), targets, mask)  # type: ignore[arg-type]

    expected = [
        -(targets[b, :n] * _brute_marginals(crf, emissions[b], n).log()).sum()
        for b, n in enumerate(lengths)
    ]
    assert torch.allclose(loss, torch.stack(expected))


def test_the_loss_counts_only_the_counted_positions(generator):
    log_p = torch.log_softmax(torch.randn(2, 3, 4, generator=generator), dim=2)
    targets = torch.softmax(torch.randn(2, 3, 4, generator=generator), dim=2)
    counted = torch.tensor([[True, False, True], [False, False, True]])

    loss = cross_entropy(log_p, targets, counted)

    token = -(targets * log_p).sum(dim=2)
    assert torch.allclose(loss, torch.stack([token[0, 0] + token[0, 2], token[1, 2]]))


def _weights(directory: Path) -> bytes:
    return (directory / "model.safetensors").read_bytes()


def test_a_weight_of_0_trains_exactly_as_without_teachers(tmp_path, tiny_models):
    train = DATA / "ner-train.conll"
    rnntag.train(train, tmp_path / "alone", **SHORT)
    rnntag.train(
        train, tmp_path / "taught", teacher=[str(tiny_models["ner"])], distill_weight=0.0, **SHORT
    )

    assert _weights(tmp_path / "taught") == _weights(tmp_path / "alone")


def test_a_student_of_an_ensemble_learns_to_tag(tmp_path, tiny_models, capsys):
    teacher = str(tiny_models["ner"])
    out = tmp_path / "student"
    dev = DATA / "ner-dev.conll"
    options = ["--teacher", teacher, "--teacher", teacher, "--distill-weight", "0.5"]
    assert (
        run("train", DATA / "ner-train.conll", "--dev", dev, "-o", out, *options, *TINY_TRAINING)
        == 0
    )

    tagger = rnntag.Tagger.load(out)
    assert tagger.info.train.teacher == [teacher, teacher]
    assert tagger.info.results["dev_score"] > 0.5
    (sentence,) = tagger.tag("Ada Lovelace was born in London .")
    assert len(sentence.tokens) == 7


def test_unlabelled_sentences_are_learnt_from(tmp_path, tiny_models):
    train = DATA / "ner-train.conll"
    distil = SHORT | {"teacher": [str(tiny_models["ner"])], "distill_weight": 1.0}
    rnntag.train(train, tmp_path / "labelled", **distil)
    rnntag.train(train, tmp_path / "more", unlabelled=str(DATA / "sentences.txt"), **distil)

    assert _weights(tmp_path / "more") != _weights(tmp_path / "labelled")


def _dev_tokens() -> list[list[str]]:
    path = DATA / "ner-dev.conll"
    with path.open(encoding="utf-8") as stream:
        return [s.tokens for s in read_conll(stream, str(path), tag_column=None)]


def test_a_student_tags_unlabelled_text_as_its_teacher_does(tmp_path):
    # A teacher that calls people organisations and organisations people, so that its tags
    # and the gold tags disagree; a student that learnt from the teacher agrees with it on
    # text it never saw gold tags for, and one that did not learn from it does not.
    swapped = (DATA / "ner-train.conll").read_text(encoding="utf-8")
    swapped = swapped.replace("-PER", "-TMP").replace("-ORG", "-PER").replace("-TMP", "-ORG")
    (tmp_path / "swapped.conll").write_text(swapped, encoding="utf-8")
    rnntag.train(tmp_path / "swapped.conll", tmp_path / "teacher", **TINY)
    sentences = _dev_tokens()
    (tmp_path / "unlabelled.txt").write_text(
        "".join(" ".join(s) + "\n" for s in sentences), encoding="utf-8"
    )
    teacher = [str(tmp_path / "teacher")]
    for name, weight in (("taught", 1.0), ("untaught", 0.0)):
        rnntag.train(
            DATA / "ner-train.conll", tmp_path / name, teacher=teacher, distill_weight=weight,
            unlabelled=str(tmp_path / "unlabelled.txt"), **TINY,
        )  # fmt: skip

    def entity_tags(model: str) -> list[str]:
        tagged = rnntag.Tagger.load(tmp_path / model).tag_tokens(sentences)
        return [token.tag for sentence in tagged for token in sentence.tokens]

    said = entity_tags("teacher")
    names = [i for i, tag in enumerate(said) if tag != "O"]
    assert len(names) >= 20

    def agreement(model: str) -> float:
        tags = entity_tags(model)
        return sum(tags[i] == said[i] for i in names) / len(names)

    assert agreement("taught") >= 0.8
    assert agreement("untaught") <= 0.5


def test_a_teacher_of_other_labels_is_refused_with_one_line(tmp_path, tiny_models, capsys):
    renamed = (DATA / "ner-train.conll").read_text(encoding="utf-8").replace("-MISC", "-THING")
    (tmp_path / "renamed.conll").write_text(renamed, encoding="utf-8")

    code = run(
        "train", tmp_path / "renamed.conll", "-o", tmp_path / "m",
        "--teacher", tiny_models["ner"], "--epochs", "1",
    )  # fmt: skip

    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("rnntag: error: teacher ")
    assert "labels B-MISC, B-THING" in error
    assert "must have the student's labels, scheme and CRF constraints" in error


def test_a_teacher_of_another_scheme_is_refused(tmp_path, tiny_models):
    with pytest.raises(UsageError, match="its labels are in IOBES, the student's in plain tags"):
        rnntag.train(
            DATA / "pos-train.conllu", tmp_path / "m", teacher=[str(tiny_models["ner"])], **SHORT
        )


def test_the_distillation_options_need_a_teacher(tmp_path):
    with pytest.raises(UsageError, match="need a --teacher"):
        rnntag.train(DATA / "ner-train.conll", tmp_path / "m", distill_weight=0.3, **SHORT)
    assert not (tmp_path / "m").exists()


def test_resume_with_other_teachers_is_refused(tmp_path, tiny_models):
    train, out, teacher = DATA / "ner-train.conll", tmp_path / "m", str(tiny_models["ner"])
    settings = SHORT | {"epochs": 2, "teacher": [teacher]}
    with pytest.raises(TrainingInterrupted):
        rnntag.train(train, out, should_stop=lambda: True, **settings)

    with pytest.raises(UsageError, match="cannot resume with --teacher"):
        rnntag.train(train, out, resume=True, **settings | {"teacher": [teacher, teacher]})
    rnntag.train(train, out, resume=True, **settings)
