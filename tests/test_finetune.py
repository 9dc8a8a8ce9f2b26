"""Fine-tuning with `--init-from`: a model that learns a new entity type from its parent,
keeping the parent's indices and most of its old score."""

from __future__ import annotations

import json
import random

import pytest
import torch
from conftest import DATA, TINY_TRAINING, run, run_captured
from safetensors.torch import load_file

from rnntag.model.config import TrainConfig
from rnntag.model.modelfile import build_model, load_model
from rnntag.training.finetune import extended_info, graft

pytestmark = pytest.mark.slow

PRODUCTS = ["Zorbix", "Quillo", "Vantra", "Pelmo", "Troxa", "Kindle", "Fenwa", "Obrix"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"]
PLACES = ["Paris", "London", "Oslo", "Berlin"]


def product_sentences(count: int, seed: int) -> str:
    """CoNLL sentences (IOB2) in which a product (the new type) and old types appear."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(count):
        first, last = rng.choice(NAMES).split()
        rows = [(first, "B-PER"), (last, "I-PER"), ("bought", "O"), ("a", "O")]
        rows += [(rng.choice(PRODUCTS), "B-PROD"), ("in", "O"), (rng.choice(PLACES), "B-LOC")]
        blocks.append("\n".join(f"{w}\t{t}" for w, t in [*rows, (".", "O")]))
    return "\n\n".join(blocks) + "\n"


def span_f1(result, kind: str | None = None) -> float:
    report = json.loads(result.stdout)["spans"]
    return report["types"][kind]["f1"] if kind else report["micro avg"]["f1"]


def test_a_fine_tuned_model_learns_a_new_type_and_keeps_the_old_ones(tmp_path, tiny_models):
    parent = tiny_models["ner"]
    old_train = (DATA / "ner-train.conll").read_text(encoding="utf-8")
    train, dev = tmp_path / "train.conll", tmp_path / "dev.conll"
    # New examples and some of the old data, so that the old types are rehearsed.
    train.write_text(product_sentences(40, 1) + "\n" + old_train, encoding="utf-8")
    dev.write_text(product_sentences(10, 2), encoding="utf-8")
    out = tmp_path / "tuned"

    options = [*TINY_TRAINING, "--epochs", "6"]
    assert run("train", train, "--dev", dev, "-o", out, "--init-from", parent, *options) == 0

    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    old = json.loads((parent / "config.json").read_text(encoding="utf-8"))
    # The parent's labels keep their indices; the new type (one-word products, so S- in
    # the IOBES of training) comes after them.
    assert config["labels"][: len(old["labels"])] == old["labels"]
    assert config["labels"][len(old["labels"]) :] == ["S-PROD"]
    assert config["train"]["init_from"] == str(parent)
    assert config["results"]["parent"]["labels"] == len(old["labels"])
    words = (out / "words.txt").read_text(encoding="utf-8").splitlines()
    parent_words = (parent / "words.txt").read_text(encoding="utf-8").splitlines()
    assert words[: len(parent_words)] == parent_words
    weights, parent_weights = (
        load_file(out / "model.safetensors"),
        load_file(parent / "model.safetensors"),
    )
    assert weights["emissions.weight"].shape[0] == len(config["labels"])
    assert parent_weights["emissions.weight"].shape[0] == len(old["labels"])

    held_out = tmp_path / "test.conll"
    held_out.write_text(product_sentences(20, 3), encoding="utf-8")
    assert span_f1(run_captured("eval", "-m", out, held_out, "--json"), "PROD") >= 0.9
    before = span_f1(run_captured("eval", "-m", parent, DATA / "ner-dev.conll", "--json"))
    after = span_f1(run_captured("eval", "-m", out, DATA / "ner-dev.conll", "--json"))
    assert after >= 0.8 * before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--hidden-size", "64"], "--hidden-size 64: a fine-tuned model keeps its parent's"),
        # Values equal to the defaults are refused too when given and not the parent's.
        (["--hidden-size", "200"], "--hidden-size 200: a fine-tuned model keeps its parent's"),
        (["--word-dim", "100"], "--word-dim 100: a fine-tuned model keeps its parent's"),
        (["--train-scheme", "IOB2"], "trains in its parent's scheme (IOBES)"),
        (["--init-from", "pos"], "the parent model tags plain tags, but this data has spans"),
    ],
)
def test_fine_tuning_refuses_another_architecture_or_kind_of_tags(
    tmp_path, capsys, tiny_models, options, message
):
    args = ["train", DATA / "ner-train.conll", "-o", tmp_path / "m", "--epochs", "1"]
    if "--init-from" not in options:
        options = [*options, "--init-from", tiny_models["ner"]]
    assert run(*args, *options) == 2
    assert message in capsys.readouterr().err


def test_vectors_without_a_new_word_and_the_parents_scheme_are_kept(tmp_path, tiny_models):
    # The parent's own data and a vector file that holds no word new to it.
    parent = tiny_models["ner"]
    words = set((parent / "words.txt").read_text(encoding="utf-8").split("\n"))
    vectors = tmp_path / "v.txt"
    vectors.write_text("".join(f"{w} 0.5 0.25\n" for w in sorted(words) if w.isalpha()))
    out = tmp_path / "m"
    args = ["train", DATA / "ner-train.conll", "-o", out, "--epochs", "1", "--threads", "1"]
    assert run(*args, "--init-from", parent, "--embeddings", vectors) == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["train"]["train_scheme"] == config["scheme"] == "IOBES"
    assert config["results"]["pretrained_vectors_found"] == 0


def test_grafting_keeps_every_parent_weight_and_gives_new_words_their_vectors(
    tmp_path, tiny_models
):
    parent_info, parent = load_model(tiny_models["ner"])
    vector = [round(0.01 * i, 2) for i in range(parent_info.model.word_dim)]
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("zorbix " + " ".join(map(str, vector)) + "\n", encoding="utf-8")
    tokens, tags = [["zorbix", "Quillo"]], [["S-PROD", "O"]]
    info = extended_info(parent_info, tokens, tags, "IOB2", "whole", TrainConfig(), "parent")
    model = build_model(info)
    fresh = {k: v.clone() for k, v in model.named_parameters()}

    assert graft(model, parent, info, str(vectors)) == 1
    grown = dict(model.named_parameters())
    for name, weights in parent.named_parameters():
        block = tuple(slice(0, n) for n in weights.shape)
        assert torch.equal(grown[name][block], weights), name
        rest = torch.ones_like(grown[name], dtype=torch.bool)
        rest[block] = False
        if name != "word_embed.weight":
            assert torch.equal(grown[name][rest], fresh[name][rest]), name
    words = info.vocab.words
    assert words.index("zorbix") >= len(parent_info.vocab.words)
    assert torch.equal(model.word_embed.weight[words.index("zorbix")], torch.tensor(vector))
    assert torch.equal(
        model.word_embed.weight[words.index("Quillo")],
        fresh["word_embed.weight"][words.index("Quillo")],
    )
