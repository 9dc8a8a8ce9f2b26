"""Hyperparameters as dataclasses, and their JSON round trip with validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin

from rnntag.errors import RnntagError, UsageError

FORMAT_VERSION = 2
CHOICES: dict[str, tuple[str, ...]] = {
    "char_encoder": ("cnn", "lstm", "none"),
    "rnn": ("lstm", "gru", "rnn"),
    "merge": ("concat", "sum", "product"),
    "decoder": ("crf", "softmax"),
    "optimizer": ("adam", "sgd"),
    "train_scheme": ("IOB1", "IOB2", "IOBES"),
    "subword": ("none", "bpe"),
    "bpe_pool": ("lstm", "mean"),
    "hyphens": ("split", "whole"),
}
# The network `rnntag train` gives plain tags (POS) in place of the defaults the caller did
# not set: on EWT dev it scored UPOS 96.17 +- 0.06 over 3 seeds against 95.74 +- 0.04 for the
# defaults (docs/benchmarks.md). Span tags keep the defaults, the best measured for entities.
PLAIN_TAG_NETWORK: dict[str, Any] = {
    "char_encoder": "lstm",
    "char_hidden": 100,
    "num_layers": 2,
    "hidden_size": 300,
}
# The shortest window of truncated backpropagation through time: context on both sides of
# a core of at least a few tokens.
MIN_WINDOW = 8
# Generous caps so a tampered config is refused before any memory is allocated.
MAX_DIM = 4096
MAX_LAYERS = 8


def setting(default: Any, help: str) -> Any:
    """A hyperparameter with its default and the one-line help of its `rnntag train` option,
    so that each is declared once."""
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    """Network architecture. Sizes of the vocabularies live with the vocabularies."""

    word_dim: int = setting(100, "Word embedding size (that of --embeddings when given).")
    char_encoder: str = setting(
        "cnn", "cnn (Ma & Hovy 2016), lstm (Lample et al. 2016) or none; lstm for plain tags."
    )
    char_dim: int = setting(30, "Character embedding size.")
    char_hidden: int = setting(
        50, "CNN filters, or char-BiLSTM size (both directions); 100 for plain tags."
    )
    char_kernel: int = setting(3, "Character CNN window, in characters.")
    max_word_chars: int = setting(
        30, "Characters of a word the front end reads (longer words keep first and last)."
    )
    subword: str = setting("none", "none, or bpe: byte-pair pieces of each word.")
    bpe_vocab_size: int = setting(2000, "Byte-pair pieces learned, <pad> and <unk> included.")
    bpe_dim: int = setting(50, "Byte-pair piece embedding size.")
    bpe_pool: str = setting("lstm", "lstm (a small BiLSTM) or mean over a word's pieces.")
    bpe_hidden: int = setting(50, "Size of the BiLSTM over a word's pieces (both directions).")
    rnn: str = setting("lstm", "lstm, gru or rnn (Elman).")
    hidden_size: int = setting(200, "RNN size per direction; 300 for plain tags.")
    num_layers: int = setting(1, "Stacked BiRNN layers; 2 for plain tags.")
    merge: str = setting(
        "concat",
        "How the top layer joins its two directions: concat, or element-wise sum or product.",
    )
    dropout: float = setting(0.5, "Dropout on the word representations and between layers.")
    decoder: str = setting(
        "crf", "crf (Viterbi over whole sequences) or softmax (arg-max per token)."
    )
    constrain: bool = setting(True, "Forbid CRF transitions that break the span scheme.")
    normalize_digits: bool = setting(True, "Look words up with every digit as 0.")
    lowercase: bool = setting(False, "Look words up lowercased (--case-dim adds casing back).")
    case_dim: int = setting(0, "Size of a casing-pattern embedding; 0 for none.")
    locked_dropout: bool = setting(False, "Drop the same features at every position of a sentence.")
    doc_memory: bool | None = setting(
        None,
        "Give each capitalised token the mean RNN state of its other occurrences in the"
        " document (sentences between -DOCSTART- lines, # newdoc, or a plain text); by"
        " default on for span tags in training data with documents.",
    )


@dataclass
class TrainConfig:
    """Training recipe."""

    epochs: int = setting(30, "Most passes over the training data.")
    batch_size: int = setting(32, "Sentences per training batch.")
    optimizer: str = setting("adam", "adam or sgd.")
    lr: float = setting(0.002, "Learning rate.")
    momentum: float = setting(0.9, "SGD momentum.")
    lr_decay: float = setting(0.05, "Learning rate at epoch e is lr / (1 + lr_decay * e).")
    weight_decay: float = setting(0.0, "L2 penalty (makes the word table's update dense).")
    clip: float = setting(1.0, "Gradient norm cap; 0 disables.")
    patience: int = setting(5, "Epochs without dev improvement before stopping.")
    final_fit: bool = setting(
        False,
        "Train on the training and --dev files together for all --epochs (take them from an"
        " earlier run's best epoch), without early stopping, and save the last epoch.",
    )
    unk_replace: float = setting(0.5, "Probability of replacing a training singleton by <unk>.")
    bptt: int = setting(
        500,
        "Train a sentence longer than this many tokens as overlapping windows of it, each"
        " scoring its middle half (truncated backpropagation through time); 0 never.",
    )
    doc_dropout: float = setting(
        0.5,
        "With a document memory: probability that a training document is shown, for one"
        " step, as sentences that are each their own document, so that the model also tags"
        " well a sentence given alone.",
    )
    ema: float = setting(
        0.0,
        "Decay of a moving average of the weights, updated after every step, that is evaluated"
        " and saved in their place; 0 for none.",
    )
    lang: str = setting(
        "",
        "Language of the training data (en, es, nl, ...), recorded in the model; by default"
        " guessed from its commonest words.",
    )
    seed: int = setting(1, "Random seed; the same seed trains the same model on the CPU.")
    threads: int = setting(0, "CPU threads; 0 = half the cores, 1 to 4.")
    train_scheme: str = setting("IOBES", "Span scheme to train in; predictions use the data's.")
    embeddings: str | None = setting(
        None, "Pretrained vectors: GloVe or word2vec/fastText text (.gz too), or .bin."
    )
    embeddings_max: int = setting(
        100000, "The vector file's most frequent words added to the vocabulary."
    )
    freeze_embeddings: bool = setting(False, "Keep the pretrained vectors fixed.")
    init_from: str | None = setting(
        None,
        "Fine-tune: start from this model (a shipped name or a directory), keeping its"
        " architecture and weights; the data's new words and labels get new rows.",
    )


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
    # How the training data wrote hyphenated compounds: "split" (`Jean - Luc`, UD English) or
    # "whole" (`Jean-Luc`, CoNLL-2003); plain text reaches the model written the same way.
    hyphens: str = "split"
    # Word forms with inner punctuation its training data keeps whole (`EE.UU`, `d'r`): plain
    # text's pieces that make one reach the model joined (see `rnntag.io.text.kept_forms`).
    forms: list[str] = field(default_factory=list)
    # Forms after which plain text's sentences do not end (`Sra.`, `tel.`): see
    # `rnntag.io.text.kept_abbreviations`.
    abbreviations: list[str] = field(default_factory=list)
    # The training data's language (ISO 639-1, or "und"): `--lang`, or guessed from the data.
    lang: str = "und"
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
                raise UsageError(f"{section}.{item.name} = {value} is not a finite number")


# The range of each training setting, both ends included; None for no bound.
RECIPE_RANGES: dict[str, tuple[float | None, float | None]] = {
    "epochs": (1, None),
    "batch_size": (1, None),
    "patience": (1, None),
    "lr": (0.0, None),
    "momentum": (0.0, 1.0),
    "lr_decay": (0.0, None),
    "weight_decay": (0.0, None),
    "clip": (0.0, None),
    "unk_replace": (0.0, 1.0),
    "doc_dropout": (0.0, 1.0),
    "bptt": (0, None),
    "ema": (0.0, 0.9999),
    "seed": (0, 2**63 - 1),
    "threads": (0, 4096),
    "embeddings_max": (0, None),
}


def check_recipe(config: TrainConfig) -> None:
    """Refuse training settings outside their range (`--epochs 0`, `--batch-size -5`,
    `--lr -1`, a seed beyond 64 bits) before anything is read or written."""
    for name, (low, high) in RECIPE_RANGES.items():
        value = getattr(config, name)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"in {low}..{high}"
            raise UsageError(f"train.{name} = {value} must be {bounds}")
    if config.lr == 0:
        raise UsageError("train.lr = 0 would train nothing; give a positive learning rate")
    if 0 < config.bptt < MIN_WINDOW:
        raise UsageError(f"train.bptt = {config.bptt} must be 0 or at least {MIN_WINDOW}")


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


def read_toml(path: str) -> tuple[ModelConfig, TrainConfig, frozenset[str]]:
    """Hyperparameters from a TOML file with optional `[model]` and `[train]` tables whose keys
    are the field names of `ModelConfig` and `TrainConfig`.

    Args:
        path: The TOML file.

    Returns:
        The two configurations, defaults where the file is silent, and the names of the
        settings the file gives.
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
            frozenset(data.get("model", {})) | frozenset(data.get("train", {})),
        )
    except RnntagError as exc:
        raise RnntagError(str(exc), path) from None
