"""Hyperparameters as dataclasses, and their JSON round trip with validation."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin

from rnntag.errors import RnntagError

FORMAT_VERSION = 1
CHOICES: dict[str, tuple[str, ...]] = {
    "char_encoder": ("cnn", "lstm", "none"),
    "rnn": ("lstm", "gru", "rnn"),
    "decoder": ("crf", "softmax"),
    "optimizer": ("adam", "sgd"),
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
    rnn: str = "lstm"  # lstm, gru or rnn (Elman)
    hidden_size: int = 200  # per direction
    num_layers: int = 1
    dropout: float = 0.5  # on the word representation and on the RNN output
    decoder: str = "crf"  # crf (Viterbi over whole sequences) or softmax (arg-max per token)
    normalize_digits: bool = True  # look words up with every digit replaced by 0


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


@dataclass
class Vocabularies:
    """Everything needed to turn strings into indices and back."""

    words: list[str]
    chars: list[str]
    labels: list[str]


@dataclass
class ModelInfo:
    """The contents of a model directory's `config.json`."""

    model: ModelConfig
    vocab: Vocabularies
    scheme: str | None  # span scheme of the training tags, or None for plain tags
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


def check_sizes(config: ModelConfig) -> None:
    """Refuse absurd or non-positive sizes before anything is allocated."""
    for name in ("word_dim", "char_dim", "char_hidden", "char_kernel", "hidden_size"):
        value = getattr(config, name)
        if not 1 <= value <= MAX_DIM:
            raise RnntagError(f"model.{name} = {value} is outside 1..{MAX_DIM}")
    if not 1 <= config.num_layers <= MAX_LAYERS:
        raise RnntagError(f"model.num_layers = {config.num_layers} is outside 1..{MAX_LAYERS}")
    if not 1 <= config.max_word_chars <= 1000:
        raise RnntagError(f"model.max_word_chars = {config.max_word_chars} is outside 1..1000")
    if not 0.0 <= config.dropout < 1.0:
        raise RnntagError(f"model.dropout = {config.dropout} is outside [0, 1)")
