"""A training's recipe, decided and checked once: the settings a caller gave (`Settings`),
then, once the data is read, what depends on it and on a checkpoint to resume (`resolve`).
The training loop receives the finished `Recipe` and decides and checks nothing more.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnntag.errors import RnntagError, UsageError
from rnntag.io.language import guess_language
from rnntag.io.schemes import convert, detect_scheme
from rnntag.io.sentence import InputSentence
from rnntag.io.text import hyphen_convention, kept_abbreviations, kept_forms
from rnntag.model.config import (
    PLAIN_TAG_NETWORK,
    ModelConfig,
    ModelInfo,
    TrainConfig,
    check_settings,
    from_dict,
    read_toml,
)
from rnntag.model.directory import check_info
from rnntag.model.encode import build_vocabularies, clip_word, key_function, word_counts
from rnntag.model.network import SequenceTagger
from rnntag.model.subword import learn_bpe
from rnntag.training.checkpoint import Checkpoint, fingerprint, settings_of
from rnntag.training.distill import Distillation, check_options, distillation
from rnntag.training.distributed import Cluster
from rnntag.training.embeddings import pretrained_vocabulary
from rnntag.training.finetune import check_parent, extended_info, load_parent

MODEL_SETTINGS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
TRAIN_SETTINGS = frozenset(f.name for f in dataclasses.fields(TrainConfig))
# What makes a `Recipe`: `resolve` alone holds it.
_RESOLVED = object()


def read_settings(
    config: str | Path | None, overrides: dict[str, Any]
) -> tuple[ModelConfig, TrainConfig, frozenset[str]]:
    """The settings of the TOML file `config` (if any) overridden by `overrides`, any field of
    `ModelConfig` or `TrainConfig` by name, defaults elsewhere; and the names of the settings
    given in either. Not yet checked: `Settings` checks them."""
    unknown = set(overrides) - MODEL_SETTINGS - TRAIN_SETTINGS
    if unknown:
        raise TypeError(f"train() got an unexpected setting {sorted(unknown)[0]!r}")
    model, train, given = (
        read_toml(str(config)) if config else (ModelConfig(), TrainConfig(), frozenset())
    )
    model_overrides = {k: v for k, v in overrides.items() if k in MODEL_SETTINGS}
    train_overrides = {k: v for k, v in overrides.items() if k in TRAIN_SETTINGS}
    return (
        from_dict(ModelConfig, {**vars(model), **model_overrides}, "model"),
        from_dict(TrainConfig, {**vars(train), **train_overrides}, "train"),
        given | (MODEL_SETTINGS | TRAIN_SETTINGS) & set(overrides),
    )


@dataclass(frozen=True)
class Settings:
    """The settings a caller gave, defaults elsewhere, checked when made: each within its
    range (see `check_settings`), or a usage error. What depends on the data is still open.

    Attributes:
        model: The architecture asked for (`doc_memory` may be auto).
        train: The training settings asked for.
        given: The names of the settings the caller set, in a TOML file or directly: the
            others may take a value chosen from the data.
    """

    model: ModelConfig
    train: TrainConfig
    given: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        try:
            check_settings(self.train)
            check_settings(self.model)
        except RnntagError as exc:
            raise UsageError(exc.message) from None
        check_options(self.train, self.given)


@dataclass
class Start:
    """What the network's weights start from besides their initialisation. The trainer
    takes it once (`take`), so that the recipe holds no second copy during the training.

    Attributes:
        vectors: (words, word_dim) pretrained vectors of the vocabulary's words (rank 0).
        parent: The network a fine-tuning starts from.
        checkpoint: What a resumed training restores: weights, optimiser, position.
    """

    vectors: np.ndarray | None = None
    parent: SequenceTagger | None = None
    checkpoint: Checkpoint | None = None

    def take(self) -> Start:
        """Its contents, handed over: it holds nothing afterwards."""
        taken = Start(self.vectors, self.parent, self.checkpoint)
        self.vectors, self.parent, self.checkpoint = None, None, None
        return taken


@dataclass(frozen=True)
class Recipe:
    """A training, complete and checked, as `resolve` alone makes it.

    Attributes:
        info: The model to train: architecture with every choice made, vocabularies,
            schemes, training settings; what a checkpoint holds, on resume.
        tokens: The training sentences.
        tags: Their tags, in the scheme the training uses (`info.scheme`).
        documents: Each sentence's document, or None.
        digest: The fingerprint of data and settings that a checkpoint is made with.
        choices: What was chosen from the data among the settings the caller left open, a
            line each, as `rnntag train` says them.
        start: What the weights start from.
        distill: The teachers' marginals, with `--teacher` and a weight above 0.
        made_by: `resolve`'s mark: a recipe made without it is refused.
    """

    info: ModelInfo
    tokens: list[list[str]]
    tags: list[list[str]]
    documents: list[int | None]
    digest: str
    choices: tuple[str, ...]
    start: Start
    distill: Distillation | None = None
    made_by: object = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.made_by is not _RESOLVED:
            raise TypeError("a Recipe is made by rnntag.training.recipe.resolve alone")


def resolve(
    settings: Settings,
    data: Sequence[InputSentence],
    scheme: str | None,
    checkpoint: Checkpoint | None,
    cluster: Cluster,
) -> Recipe:
    """Decide what the data and the checkpoint decide, and refuse what cannot be trained.

    Args:
        settings: What the caller asked for.
        data: Tagged training sentences.
        scheme: Span scheme of the data; detected from the tags when None.
        checkpoint: The checkpoint to resume from, if any: its settings must be those asked
            for, its data `data`.
        cluster: The training processes; rank 0 alone builds the vocabularies.

    Returns:
        The recipe.
    """
    tokens, tags = [s.tokens for s in data], [s.tags or [] for s in data]
    documents = [s.document for s in data]
    model_config = _with_data_decided(settings, checkpoint, data, tags, scheme)
    start = Start(checkpoint=checkpoint)
    if checkpoint is not None:
        info = checkpoint.info
        _check_unchanged(info, model_config, settings.train, checkpoint.out)
        tags = _converted(tags, info.scheme)
    else:
        schemes, parent = _schemes(settings, model_config, tags, scheme)
        tags = _converted(tags, schemes[1])
        info, start.vectors = _new_info(
            tokens, tags, schemes, model_config, settings.train, parent, cluster
        )
        start.parent = parent[1] if parent else None
    distill = distillation(info.train, info, tokens, documents, cluster.device)
    # The unlabelled sentences are training data too, with no tags.
    unlabelled = distill.unlabelled if distill else []
    digested = (tokens + unlabelled, tags + [[] for _ in unlabelled])
    if checkpoint is not None and not checkpoint.made_from(*digested):
        raise RnntagError(
            "the checkpoint was made with other training data or settings", str(checkpoint.out)
        )
    return Recipe(
        info, tokens, tags, documents, fingerprint(settings_of(info), *digested),
        tuple(_choices(info, settings)), start, distill, _RESOLVED,
    )  # fmt: skip


def _converted(tags: list[list[str]], scheme: str | None) -> list[list[str]]:
    """The tags in the training's scheme, converted once: the vocabularies, the fingerprint
    and the batches all use them."""
    return [convert(t, scheme) for t in tags] if scheme else tags


def _with_data_decided(
    settings: Settings,
    checkpoint: Checkpoint | None,
    data: Sequence[InputSentence],
    tags: list[list[str]],
    scheme: str | None,
) -> ModelConfig:
    """The architecture asked for with what depends on the data decided: the document
    memory, when not given, on for span tags in data with documents, the recipe that
    measured best for entities (names recur within documents), and off otherwise; for plain
    tags, `PLAIN_TAG_NETWORK` where no setting was given, or on resume the checkpoint's
    network. A fine-tuned model keeps its parent's."""
    model_config = settings.model
    if settings.train.init_from:
        return model_config
    spans = (scheme or detect_scheme(tags)) is not None
    if model_config.doc_memory == "auto":
        documented = any(s.document is not None for s in data)
        model_config = replace(model_config, doc_memory="on" if spans and documented else "off")
    if spans and checkpoint is None:
        return model_config
    # A resumed training keeps the network it began with, whatever this release's defaults.
    network = PLAIN_TAG_NETWORK
    if checkpoint is not None:
        network = {name: getattr(checkpoint.info.model, name) for name in network}
    return replace(model_config, **{n: v for n, v in network.items() if n not in settings.given})


def _choices(info: ModelInfo, settings: Settings) -> list[str]:
    """What `rnntag train` chose from the data among the settings the caller left open."""
    found = []
    if settings.model.doc_memory == "auto" and info.model.doc_memory == "on":
        found.append(
            "document memory on: span tags in data with documents (--no-doc-memory turns it off)"
        )
    open_network = [n for n in PLAIN_TAG_NETWORK if n not in settings.given]
    if info.scheme is None and open_network and not info.train.init_from:
        network = ", ".join(f"{n} {getattr(info.model, n)}" for n in open_network)
        found.append(f"plain tags: the bigger network ({network})")
    return found


def _check_unchanged(
    info: ModelInfo, model_config: ModelConfig, train_config: TrainConfig, out: Path
) -> None:
    """Refuse to resume with settings other than those the checkpoint was made with: they
    would be silently ignored. `threads` may differ; the embeddings are compared by file
    name, and `word_dim` not at all with them (the vectors set it)."""
    # A fine-tuned model's architecture is its parent's, whatever the defaults passed.
    pairs: list[tuple[Any, Any]] = [(train_config, info.train)]
    if not train_config.init_from:
        pairs.insert(0, (model_config, info.model))
    for given, saved in pairs:
        for item in dataclasses.fields(given):
            name = item.name
            now, then = getattr(given, name), getattr(saved, name)
            if name == "threads" or (name == "word_dim" and train_config.embeddings):
                continue
            if name == "embeddings":
                now, then = (Path(value).name if value else value for value in (now, then))
            if isinstance(now, list):
                now, then = (" ".join(value) or "none" for value in (now, then))
            if now != then:
                option = "--" + name.replace("_", "-")
                raise UsageError(
                    f"cannot resume with {option} {now}: the checkpoint was made with {then};"
                    " resume with the settings the training started with",
                    str(out),
                )


def _schemes(
    settings: Settings, model_config: ModelConfig, tags: list[list[str]], scheme: str | None
) -> tuple[tuple[str | None, str | None], tuple[ModelInfo, SequenceTagger] | None]:
    """A new training's schemes, (the data's, the training's), and a fine-tuning's parent,
    checked against the settings and the data."""
    data_scheme = scheme or detect_scheme(tags)
    train_config = settings.train
    if not train_config.init_from:
        return (data_scheme, train_config.train_scheme if data_scheme else None), None
    parent = load_parent(train_config.init_from)
    check_parent(parent[0], model_config, train_config, data_scheme, settings.given)
    return (data_scheme, parent[0].scheme), parent


def _new_info(
    train_tokens: list[list[str]],
    train_tags: list[list[str]],
    schemes: tuple[str | None, str | None],
    model_config: ModelConfig,
    train_config: TrainConfig,
    parent: tuple[ModelInfo, SequenceTagger] | None,
    cluster: Cluster,
) -> tuple[ModelInfo, np.ndarray | None]:
    """The model description of a new run, from scratch or extended from the parent's when
    fine-tuning, with the pretrained vectors to start from (on rank 0; see `_prepare`)."""
    info, vectors = None, None
    if cluster.main and parent is not None:
        info = extended_info(
            parent[0], train_tokens, train_tags, schemes[0], hyphen_convention(train_tokens),
            train_config, train_config.init_from or "",
        )  # fmt: skip
    elif cluster.main:
        info, vectors = _prepare(train_tokens, train_tags, schemes, model_config, train_config)
    # Rank 0 alone builds the vocabularies (and the byte-pair model) and sends them on.
    shared = cluster.share_text(json.dumps(info.to_dict()) if info else "")
    info = from_dict(ModelInfo, json.loads(shared), "info")
    _check_savable(info)
    return info, vectors


def _prepare(
    train_tokens: list[list[str]],
    train_tags: list[list[str]],
    schemes: tuple[str | None, str | None],
    model_config: ModelConfig,
    train_config: TrainConfig,
) -> tuple[ModelInfo, np.ndarray | None]:
    """The model description of a new run and the pretrained vectors that initialise its word
    embeddings; `train_tags` are in the training scheme, `schemes` is (the data's, the
    training's)."""
    vocab = build_vocabularies(train_tokens, train_tags, model_config)
    if model_config.subword == "bpe":
        vocab.bpe = learn_bpe(
            (clip_word(t, model_config.max_word_chars) for s in train_tokens for t in s),
            model_config.bpe_vocab_size,
        )
    vectors, found = None, 0
    if train_config.embeddings:
        vocab.words, vectors, found = pretrained_vocabulary(
            Path(train_config.embeddings),
            word_counts(train_tokens, model_config),
            train_config.embeddings_max,
            key_function(model_config),
            train_config.seed,
        )
        model_config = replace(model_config, word_dim=vectors.shape[1])
    check_settings(model_config)
    info = ModelInfo(
        model=model_config,
        vocab=vocab,
        scheme=schemes[1],
        data_scheme=schemes[0],
        hyphens=hyphen_convention(train_tokens),
        forms=kept_forms(train_tokens),
        abbreviations=kept_abbreviations(train_tokens),
        lang=train_config.lang or guess_language(train_tokens),
        train=train_config,
        results={"pretrained_vectors_found": found},
    )
    return info, vectors


def _check_savable(info: ModelInfo) -> None:
    """Refuse, before any training, what the data makes of a model that could not be saved,
    loaded or written out: every limit `check_info` puts on a model directory, and labels
    with white space, which the conll and inline outputs could not write readably."""
    try:
        check_info(info)
    except RnntagError as exc:
        raise RnntagError(
            f"this training data makes a model rnntag cannot save: {exc.message}"
        ) from None
    spaced = next((tag for tag in info.vocab.labels if tag != "".join(tag.split())), None)
    if spaced is not None:
        raise RnntagError(
            f"label {spaced!r} holds white space, which tagged output could not be read back"
            " with; replace it in the training data"
        )
