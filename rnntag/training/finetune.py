"""Fine-tuning: a new training that starts from a trained model (`--init-from`).

The new model keeps its parent's architecture and the indices of everything the parent knew:
words, characters and labels of the new data that the parent lacks are appended, their rows
of the word table, the character table, the output layer and the CRF start from the fresh
network's initialisation (new words from the pretrained vectors, when given), and every other
weight starts as the parent's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path
from typing import cast

import torch

from rnntag.errors import UsageError
from rnntag.io.schemes import Scheme
from rnntag.io.text import MAX_FORMS, Hyphens, kept_forms
from rnntag.model.config import ModelConfig, ModelInfo, TrainConfig, Vocabularies
from rnntag.model.directory import resolve_model
from rnntag.model.encode import build_vocabularies, key_function
from rnntag.model.modelfile import load_model
from rnntag.model.network import SequenceTagger
from rnntag.training.embeddings import load_vectors


def load_parent(name: str) -> tuple[ModelInfo, SequenceTagger]:
    """The model to start from: a shipped model's name or a model directory."""
    return load_model(resolve_model(name))


def check_parent(
    parent: ModelInfo,
    model_config: ModelConfig,
    train_config: TrainConfig,
    data_scheme: str | None,
    given: Collection[str] | None,
) -> None:
    """Refuse architecture settings other than the parent's, and a training scheme other
    than the one it learned in, wherever the caller set them (`given`; without it, where
    they differ from the defaults), and data whose tags are not of the parent's kind.

    Args:
        parent: The parent's configuration.
        model_config: The architecture asked for.
        train_config: The recipe asked for.
        data_scheme: The span scheme of the new data, or None for plain tags.
        given: The settings the caller set, or None.
    """
    default = ModelConfig()
    for item in dataclasses.fields(ModelConfig):
        asked, kept = getattr(model_config, item.name), getattr(parent.model, item.name)
        chosen = item.name in given if given is not None else asked != getattr(default, item.name)
        if chosen and asked != kept:
            option = "--" + item.name.replace("_", "-")
            raise UsageError(
                f"{option} {asked}: a fine-tuned model keeps its parent's architecture ({kept})"
            )
    asked_scheme = given is not None and "train_scheme" in given
    if parent.scheme and asked_scheme and train_config.train_scheme != parent.scheme:
        raise UsageError(
            f"--train-scheme {train_config.train_scheme}: a fine-tuned model trains in its"
            f" parent's scheme ({parent.scheme})"
        )
    if (parent.scheme is None) != (data_scheme is None):
        kinds = ("plain tags", "spans") if parent.scheme is None else ("spans", "plain tags")
        raise UsageError(f"the parent model tags {kinds[0]}, but this data has {kinds[1]}")


def extended_info(
    parent: ModelInfo,
    train_tokens: list[list[str]],
    train_tags: list[list[str]],
    data_scheme: str | None,
    hyphens: Hyphens,
    train_config: TrainConfig,
    parent_name: str,
) -> ModelInfo:
    """The configuration of the fine-tuned model: the parent's, with the new data's words,
    characters and labels appended; `train_tags` are in the parent's training scheme."""
    new = build_vocabularies(train_tokens, train_tags, parent.model)
    old = parent.vocab
    vocab = Vocabularies(
        words=_appended(old.words, new.words),
        chars=_appended(old.chars, new.chars),
        labels=_appended(old.labels, new.labels),
        bpe=old.bpe,
    )
    return ModelInfo(
        model=parent.model,
        vocab=vocab,
        scheme=parent.scheme,
        data_scheme=data_scheme,
        hyphens=hyphens,
        forms=_appended(parent.forms, kept_forms(train_tokens))[:MAX_FORMS],
        # What it trains in, recorded as such: the parent's scheme.
        train=dataclasses.replace(
            train_config, train_scheme=cast("Scheme", parent.scheme or train_config.train_scheme)
        ),
        results={
            "parent": {
                "model": parent_name,
                "rnntag_version": parent.rnntag_version,
                "dev_score": parent.results.get("dev_score"),
                "labels": len(old.labels),
                "words": len(old.words),
            }
        },
    )


def _appended(old: list[str], new: list[str]) -> list[str]:
    known = set(old)
    return [*old, *(entry for entry in new if entry not in known)]


def graft(
    model: SequenceTagger, parent: SequenceTagger, info: ModelInfo, embeddings: str | None
) -> int:
    """Start `model` from `parent`'s weights: every parameter takes the parent's values in
    the rows and columns the parent has; new words take their pretrained vectors.

    Args:
        model: The new network, freshly initialised.
        parent: The parent's network.
        info: The new model's configuration.
        embeddings: Pretrained vector file, or None.

    Returns:
        How many new words got a pretrained vector.
    """
    own = dict(model.named_parameters())
    with torch.no_grad():
        for name, weights in parent.named_parameters():
            target = own[name]
            # Only rows (and CRF columns) for new entries were added; the rest is the parent's.
            target[tuple(slice(0, size) for size in weights.shape)] = weights
    if embeddings is None:
        return 0
    first_new = parent.word_embed.num_embeddings
    new_words = info.vocab.words[first_new:]
    key = key_function(info.model)
    wanted = {key(word): first_new + i for i, word in enumerate(new_words)}
    vectors, dim = load_vectors(Path(embeddings), lambda word, _: key(word) in wanted)
    if vectors and dim != info.model.word_dim:
        raise UsageError(
            f"the vectors have {dim} numbers and the parent's words {info.model.word_dim}",
            embeddings,
        )
    with torch.no_grad():
        for word, vector in vectors.items():
            model.word_embed.weight[wanted[key(word)]] = torch.from_numpy(vector)
    return len(vectors)
