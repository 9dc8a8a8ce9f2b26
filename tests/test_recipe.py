"""The recipe of a training: settings checked when made, what the data decides decided once
by `resolve`, and a training loop that takes nothing but what `resolve` made."""

from __future__ import annotations

import re

import pytest
from conftest import DATA

from rnntag.errors import UsageError
from rnntag.io.formats import load_corpus
from rnntag.model.config import PLAIN_TAG_NETWORK, ModelConfig, TrainConfig
from rnntag.training.distributed import Cluster
from rnntag.training.recipe import Recipe, Settings, Start, read_settings, resolve

ALONE = Cluster()
MEMORY_ON = "document memory on: span tags in data with documents (--no-doc-memory turns it off)"


def test_a_recipe_comes_from_resolve_alone():
    sentences = load_corpus(str(DATA / "ner-train.conll"))
    recipe = resolve(Settings(ModelConfig(), TrainConfig()), sentences, None, None, ALONE)

    with pytest.raises(TypeError, match="resolve alone"):
        Recipe(recipe.info, recipe.tokens, recipe.tags, recipe.documents, "", (), Start())


@pytest.mark.parametrize(
    ("model", "train", "message"),
    [
        (ModelConfig(), TrainConfig(epochs=0), "train.epochs = 0 must be at least 1"),
        (ModelConfig(dropout=1.0), TrainConfig(), "model.dropout = 1.0 is outside [0, 1)"),
        (ModelConfig(), TrainConfig(lr=float("inf")), "train.lr = inf is not a finite number"),
    ],
)
def test_settings_out_of_range_are_refused_when_made(model, train, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        Settings(model, train)


def test_read_settings_name_what_the_file_and_the_overrides_give(tmp_path):
    toml = tmp_path / "recipe.toml"
    toml.write_text("[model]\nhidden_size = 200\n[train]\nepochs = 3\n", encoding="utf-8")

    model, train, given = read_settings(toml, {"epochs": 4, "rnn": "gru"})

    assert (model.hidden_size, model.rnn, train.epochs) == (200, "gru", 4)
    assert given == {"hidden_size", "epochs", "rnn"}
    with pytest.raises(TypeError, match="unexpected setting 'hiden_size'"):
        read_settings(None, {"hiden_size": 3})


@pytest.mark.parametrize(
    ("data", "given", "network", "choices"),
    [
        (
            "pos-train.conllu",
            {},
            PLAIN_TAG_NETWORK,
            [
                "plain tags: the bigger network (char_encoder lstm, char_hidden 100, num_layers 2,"
                " hidden_size 300)"
            ],
        ),
        (
            "pos-train.conllu",
            {"hidden_size": 64},
            PLAIN_TAG_NETWORK | {"hidden_size": 64},
            ["plain tags: the bigger network (char_encoder lstm, char_hidden 100, num_layers 2)"],
        ),
        (
            "ner-train.conll",
            {},
            {name: getattr(ModelConfig(), name) for name in PLAIN_TAG_NETWORK},
            [MEMORY_ON],
        ),
    ],
)
def test_resolve_decides_what_the_data_decides_and_says_so(data, given, network, choices):
    settings = Settings(ModelConfig(**given), TrainConfig(), frozenset(given))

    recipe = resolve(settings, load_corpus(str(DATA / data)), None, None, ALONE)

    assert {name: getattr(recipe.info.model, name) for name in network} == network
    assert recipe.info.model.doc_memory == ("on" if MEMORY_ON in choices else "off")
    assert list(recipe.choices) == choices


def test_the_recipe_holds_the_tags_in_the_training_scheme_and_hands_over_its_start_once():
    sentences = load_corpus(str(DATA / "ner-train.conll"))
    settings = Settings(ModelConfig(), TrainConfig(embeddings=str(DATA / "vectors.txt")))

    recipe = resolve(settings, sentences, None, None, ALONE)

    assert (recipe.info.data_scheme, recipe.info.scheme) == ("IOB2", "IOBES")
    assert {t[:2] for tags in recipe.tags for t in tags} <= {"O", "B-", "I-", "E-", "S-"}
    start = recipe.start.take()
    assert start.vectors is not None and start.vectors.shape[0] == len(recipe.info.vocab.words)
    assert recipe.start.vectors is None
