"""Hyperparameters as dataclasses, and their JSON round trip with validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin

from rnntag.errors import RnntagError

FORMAT_VERSION = 2
CHOICES: dict[str, tuple[str, ...]] = {
    "char_encoder": ("cnn", "lstm", "none"),
    "rnn": ("lstm", "gru", "rnn"),
    "decoder": ("crf", "softmax"),
    "optimizer": ("adam", "sgd"),
    "train_scheme": ("IOB1", "IOB2", "IOBES"),
    "subword": ("none", "bpe"),
    "bpe_pool": ("lstm", "mean"),
}
# Generous caps so a tampered config is refused before any memory is allocated.
MAX_DIM = 4096
MAX_LAYERS = 8


@dataclass
class ModelConfig:
    """Network architecture. Sizes of the vocabularies live with the vocabularies."""

    word_dim: int = 100  # word embedding size
    char_encoder: str = "cnn"  # cnn (Ma & Hovy 2016), lstm (Lample et al. 2016) or none
    char_dim: int = 30  # character embedding size
    char_hidden: int = 50  # CNN filters, or char-BiLSTM output size (both directions)
    char_kernel: int = 3  # CNN window width in characters
    max_word_chars: int = 30  # longer words keep their first and last characters
    subword: str = "none"  # none, or bpe: byte-pair pieces of each word pooled into one vector
    bpe_vocab_size: int = 2000  # most pieces learned, <pad> and <unk> included
    bpe_dim: int = 50  # piece embedding size
    bpe_pool: str = "lstm"  # lstm (a small BiLSTM over the pieces) or mean
    bpe_hidden: int = 50  # piece BiLSTM output size (both directions)
    rnn: str = "lstm"  # lstm, gru or rnn (Elman)
    hidden_size: int = 200  # per direction
    num_layers: int = 1
    dropout: float = 0.5  # on the word representation and on the RNN output
    decoder: str = "crf"  # crf (Viterbi over whole sequences) or softmax (arg-max per token)
    constrain: bool = True  # forbid transitions that break the tag scheme, in training and decoding
    normalize_digits: bool = True  # look words up with every digit replaced by 0
    lowercase: bool = False  # look words up lowercased (then case_dim adds the casing back)
    case_dim: int = 0  # size of an embedding of each word's casing pattern; 0 for none
    locked_dropout: bool = False  # drop the same features at every position of a sentence


@dataclass
class TrainConfig:
    """Training recipe."""

    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 0.002
    momentum: float = 0.9  # SGD only
    lr_decay: float = 0.05  # learning rate at epoch e is lr / (1 + lr_decay * e)
    weight_decay: float = 0.0
    clip: float = 5.0  # maximum gradient norm; 0 disables clipping
    patience: int = 5  # epochs without dev improvement before stopping
    unk_replace: float = 0.5  # probability of replacing a training singleton by <unk>
    seed: int = 1
    threads: int = 0  # torch threads; 0 keeps torch's default
    train_scheme: str = "IOBES"  # span tags are trained in this scheme, predicted in the data's
    embeddings: str | None = None  # pretrained word vectors that initialise the word embeddings
    embeddings_max: int = 100000  # the file's most frequent words added to the vocabulary
    freeze_embeddings: bool = False  # keep the word embeddings as initialised


@dataclass
class Vocabularies:
    """Everything needed to turn strings into indices and back."""

    words: list[str]
    chars: list[str]
    labels: list[str]
    bpe: dict[str, Any] | None = None  # the byte-pair model's JSON description (`tokenizers`)


@dataclass
class ModelInfo:
    """The contents of a model directory's `config.json`."""

    model: ModelConfig
    vocab: Vocabularies
    scheme: str | None  # span scheme of the labels, or None for plain tags
    data_scheme: str | None = None  # span scheme of the training data: the default output scheme
    train: TrainConfig = field(default_factory=TrainConfig)
    results: dict[str, Any] = field(default_factory=dict)  # dev scores, epochs, timing
    format_version: int = FORMAT_VERSION
    rnntag_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from parsed JSON, checking keys, types and choices.

    Args:
        cls: A dataclass type from this module.
        data: The parsed JSON value.
        where: Where the value came from, for error messages (`config.json: model`).

    Returns:
        The dataclass instance.
    """
    if not isinstance(data, dict):
        raise RnntagError(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise RnntagError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RnntagError(f"{where}: missing key {f.name!r}")
            continue
        values[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        allowed = CHOICES.get(f.name)
        if allowed and values[f.name] not in allowed:
            raise RnntagError(f"{where}.{f.name}: must be one of {', '.join(allowed)}")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _convert(inner, value, where)
    if origin is list:
        (inner,) = get_args(hint)
        if not isinstance(value, list):
            raise RnntagError(f"{where}: expected a list")
        # A model's vocabularies hold some 100,000 strings: checking their types in one pass in
        # C, rather than with a call per string, takes milliseconds instead of a tenth of a second.
        if inner is str and set(map(type, value)) <= {str}:
            return list(value)
        return [_convert(inner, v, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise RnntagError(f"{where}: expected an object")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Any:
        return value
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise RnntagError(f"{where}: expected {hint.__name__}, found {type(value).__name__}")
    return value


def check_finite(*configs: ModelConfig | TrainConfig) -> None:
    """Refuse a setting that is not a finite number (`--lr inf`, `--lr-decay nan`)."""
    for config in configs:
        section = "model" if isinstance(config, ModelConfig) else "train"
        for item in dataclasses.fields(config):
            value = getattr(config, item.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise RnntagError(f"{section}.{item.name} = {value} is not a finite number")


def check_sizes(config: ModelConfig) -> None:
    """Refuse absurd or non-positive sizes before anything is allocated."""
    for name in (
        "word_dim",
        "char_dim",
        "char_hidden",
        "char_kernel",
        "hidden_size",
        "bpe_dim",
        "bpe_hidden",
    ):
        value = getattr(config, name)
        if not 1 <= value <= MAX_DIM:
            raise RnntagError(f"model.{name} = {value} is outside 1..{MAX_DIM}")
    if not 0 <= config.case_dim <= MAX_DIM:
        raise RnntagError(f"model.case_dim = {config.case_dim} is outside 0..{MAX_DIM}")
    if not 1 <= config.num_layers <= MAX_LAYERS:
        raise RnntagError(f"model.num_layers = {config.num_layers} is outside 1..{MAX_LAYERS}")
    if not 3 <= config.bpe_vocab_size <= 1_000_000:
        raise RnntagError(f"model.bpe_vocab_size = {config.bpe_vocab_size} is outside 3..1000000")
    if not 1 <= config.max_word_chars <= 1000:
        raise RnntagError(f"model.max_word_chars = {config.max_word_chars} is outside 1..1000")
    if not 0.0 <= config.dropout < 1.0:
        raise RnntagError(f"model.dropout = {config.dropout} is outside [0, 1)")


def read_toml(path: str) -> tuple[ModelConfig, TrainConfig]:
    """Hyperparameters from a TOML file with optional `[model]` and `[train]` tables whose keys
    are the field names of `ModelConfig` and `TrainConfig`.

    Args:
        path: The TOML file.

    Returns:
        The two configurations, defaults where the file is silent.
    """
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        raise RnntagError(exc.strerror or "cannot open file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise RnntagError(f"not valid TOML: {exc}", path) from None
    unknown = set(data) - {"model", "train"}
    if unknown:
        raise RnntagError(
            f"unknown table [{sorted(unknown)[0]}]; expected [model] and [train]", path
        )
    try:
        return (
            from_dict(ModelConfig, data.get("model", {}), "model"),
            from_dict(TrainConfig, data.get("train", {}), "train"),
        )
    except RnntagError as exc:
        raise RnntagError(str(exc), path) from None
