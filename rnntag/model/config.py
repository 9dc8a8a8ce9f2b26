"""Hyperparameters as dataclasses, and their JSON round trip with validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

from rnntag.errors import RnntagError
from rnntag.io.text import Hyphens

FORMAT_VERSION = 2
# The network `rnntag train` gives plain tags (POS) in place of the defaults the caller did
# not set: it tags UPOS more accurately than the defaults' network (figures and commit in
# docs/benchmarks.md). Span tags keep the defaults, the best measured for entities.
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


def setting(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    flags: tuple[str, str] | None = None,
) -> Any:
    """A hyperparameter declared once: its default, the one-line help of its `rnntag train`
    option and the range of its values (both ends included; None for no bound). Its choices,
    where it has some, are its `Literal` type.

    `flags` (on, off) makes its option the pair `--name`/`--no-name`, giving one or the other
    and the default when neither is given; a JSON or TOML `true`, `false` or `null` (as a
    bool setting was written before it had choices) reads as on, off and the default."""
    metadata = {"help": help, "low": low, "high": high, "flags": flags}
    if isinstance(default, list):
        # A list setting is a repeatable option; each config gets its own list.
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class ModelConfig:
    """Network architecture. Sizes of the vocabularies live with the vocabularies."""

    word_dim: int = setting(
        100, "Word embedding size (that of --embeddings when given).", low=1, high=MAX_DIM
    )
    char_encoder: Literal["cnn", "lstm", "none"] = setting(
        "cnn", "cnn (Ma & Hovy 2016), lstm (Lample et al. 2016) or none; lstm for plain tags."
    )
    char_dim: int = setting(30, "Character embedding size.", low=1, high=MAX_DIM)
    char_hidden: int = setting(
        50,
        "CNN filters, or char-BiLSTM size (both directions); 100 for plain tags.",
        low=1,
        high=MAX_DIM,
    )
    char_kernel: int = setting(3, "Character CNN window, in characters.", low=1, high=MAX_DIM)
    max_word_chars: int = setting(
        30,
        "Characters of a word the front end reads (longer words keep first and last).",
        low=1,
        high=1000,
    )
    subword: Literal["none", "bpe"] = setting(
        "none", "none, or bpe: byte-pair pieces of each word."
    )
    bpe_vocab_size: int = setting(
        2000, "Byte-pair pieces learned, <pad> and <unk> included.", low=3, high=1_000_000
    )
    bpe_dim: int = setting(50, "Byte-pair piece embedding size.", low=1, high=MAX_DIM)
    bpe_pool: Literal["lstm", "mean"] = setting(
        "lstm", "lstm (a small BiLSTM) or mean over a word's pieces."
    )
    bpe_hidden: int = setting(
        50, "Size of the BiLSTM over a word's pieces (both directions).", low=1, high=MAX_DIM
    )
    rnn: Literal["lstm", "gru", "rnn"] = setting("lstm", "lstm, gru or rnn (Elman).")
    hidden_size: int = setting(
        200, "RNN size per direction; 300 for plain tags.", low=1, high=MAX_DIM
    )
    num_layers: int = setting(1, "Stacked BiRNN layers; 2 for plain tags.", low=1, high=MAX_LAYERS)
    merge: Literal["concat", "sum", "product"] = setting(
        "concat",
        "How the top layer joins its two directions: concat, or element-wise sum or product.",
    )
    # Below 1 too: see `_check_beyond_ranges`.
    dropout: float = setting(
        0.5, "Dropout on the word representations and between layers.", low=0.0, high=1.0
    )
    decoder: Literal["crf", "softmax"] = setting(
        "crf", "crf (Viterbi over whole sequences) or softmax (arg-max per token)."
    )
    constrain: bool = setting(True, "Forbid CRF transitions that break the span scheme.")
    normalize_digits: bool = setting(True, "Look words up with every digit as 0.")
    lowercase: bool = setting(False, "Look words up lowercased (--case-dim adds casing back).")
    case_dim: int = setting(
        0, "Size of a casing-pattern embedding; 0 for none.", low=0, high=MAX_DIM
    )
    locked_dropout: bool = setting(False, "Drop the same features at every position of a sentence.")
    # A trained model's is on or off (see `ModelInfo`): training decides auto from the data.
    doc_memory: Literal["auto", "on", "off"] = setting(
        "auto",
        "Give each capitalised token the mean RNN state of its other occurrences in the"
        " document (sentences between -DOCSTART- lines, # newdoc, or a plain text); by"
        " default on for span tags in training data with documents.",
        flags=("on", "off"),
    )


@dataclass
class TrainConfig:
    """Training recipe."""

    epochs: int = setting(30, "Most passes over the training data.", low=1)
    batch_size: int = setting(32, "Sentences per training batch.", low=1)
    optimizer: Literal["adam", "sgd"] = setting("adam", "adam or sgd.")
    # Above 0 too: see `_check_beyond_ranges`.
    lr: float = setting(0.002, "Learning rate.", low=0.0)
    momentum: float = setting(0.9, "SGD momentum.", low=0.0, high=1.0)
    lr_decay: float = setting(0.05, "Learning rate at epoch e is lr / (1 + lr_decay * e).", low=0.0)
    weight_decay: float = setting(0.0, "L2 penalty (makes the word table's update dense).", low=0.0)
    clip: float = setting(1.0, "Gradient norm cap; 0 disables.", low=0.0)
    patience: int = setting(5, "Epochs without dev improvement before stopping.", low=1)
    final_fit: bool = setting(
        False,
        "Train on the training and --dev files together for all --epochs (take them from an"
        " earlier run's best epoch), without early stopping, and save the last epoch.",
    )
    unk_replace: float = setting(
        0.5, "Probability of replacing a training singleton by <unk>.", low=0.0, high=1.0
    )
    # 0 or at least MIN_WINDOW: see `_check_beyond_ranges`.
    bptt: int = setting(
        500,
        "Train a sentence longer than this many tokens as overlapping windows of it, each"
        " scoring its middle half (truncated backpropagation through time); 0 never.",
        low=0,
    )
    doc_dropout: float = setting(
        0.5,
        "With a document memory: probability that a training document is shown, for one"
        " step, as sentences that are each their own document, so that the model also tags"
        " well a sentence given alone.",
        low=0.0,
        high=1.0,
    )
    ema: float = setting(
        0.0,
        "Decay of a moving average of the weights, updated after every step, that is evaluated"
        " and saved in their place; 0 for none.",
        low=0.0,
        high=0.9999,
    )
    lang: str = setting(
        "",
        "Language of the training data (en, es, nl, ...), recorded in the model; by default"
        " guessed from its commonest words.",
    )
    seed: int = setting(
        1, "Random seed; the same seed trains the same model on the CPU.", low=0, high=2**63 - 1
    )
    threads: int = setting(0, "CPU threads; 0 = half the cores, 1 to 4.", low=0, high=4096)
    train_scheme: Literal["IOB1", "IOB2", "IOBES"] = setting(
        "IOBES", "Span scheme to train in; predictions use the data's."
    )
    embeddings: str | None = setting(
        None, "Pretrained vectors: GloVe or word2vec/fastText text (.gz too), or .bin."
    )
    embeddings_max: int = setting(
        100000, "The vector file's most frequent words added to the vocabulary.", low=0
    )
    freeze_embeddings: bool = setting(False, "Keep the pretrained vectors fixed.")
    init_from: str | None = setting(
        None,
        "Fine-tune: start from this model (a shipped name or a directory), keeping its"
        " architecture and weights; the data's new words and labels get new rows.",
    )
    # `setting` gives each config its own list (a default factory).
    teacher: list[str] = setting(  # noqa: RUF009
        [],
        "Distil: also learn each token's tag probabilities from this model (a shipped name or"
        " a directory) of the same labels and scheme; repeat for an ensemble, whose"
        " probabilities are averaged.",
    )
    distill_weight: float = setting(
        0.5,
        "With --teacher: the loss is (1 - W) gold CRF loss + W cross-entropy between the"
        " teachers' and the student's tag probabilities.",
        low=0.0,
        high=1.0,
    )
    unlabelled: str | None = setting(
        None,
        "With --teacher: plain text, a sentence per line of space-separated tokens (or CoNLL"
        " without tags), that the teachers alone tag: only the distillation term applies.",
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
    hyphens: Hyphens = "split"
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

    def __post_init__(self) -> None:
        # A trained network has the document memory or not: one from before the setting
        # existed (config.json without it, or with null) has none.
        if self.model.doc_memory == "auto":
            self.model = dataclasses.replace(self.model, doc_memory="off")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from parsed JSON, checking keys, types and choices (`Literal`
    types), and reading the `true`, `false` or `null` of a setting with `flags` (see
    `setting`) as the value it stands for.

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
        value, flags = data[f.name], f.metadata.get("flags")
        if flags and (value is None or isinstance(value, bool)):
            value = f.default if value is None else flags[0] if value else flags[1]
        values[f.name] = _convert(hints[f.name], value, f"{where}.{f.name}")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin is Literal:
        allowed = get_args(hint)
        if not isinstance(value, str) or value not in allowed:
            raise RnntagError(f"{where}: must be one of {', '.join(allowed)}")
        return value
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
        # C, rather than with a call per string, keeps loading fast (docs/benchmarks.md).
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


def check_settings(config: ModelConfig | TrainConfig) -> None:
    """Refuse what no setting can be (not a finite number: `--lr inf`), what its declaration
    puts outside its range (`--epochs 0`, `--lr -1`, a seed beyond 64 bits, a size that would
    exhaust memory in a tampered config), and the few things a range cannot say, before
    anything is read, allocated or written."""
    section = "model" if isinstance(config, ModelConfig) else "train"
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise RnntagError(f"{section}.{item.name} = {value} is not a finite number")
    _check_beyond_ranges(config)
    for item in dataclasses.fields(config):
        value, low, high = getattr(config, item.name), item.metadata["low"], item.metadata["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"must be at least {low}" if high is None else f"is outside {low}..{high}"
            raise RnntagError(f"{section}.{item.name} = {value} {bounds}")


def _check_beyond_ranges(config: ModelConfig | TrainConfig) -> None:
    """The checks of `check_settings` that are not a range."""
    if isinstance(config, ModelConfig):
        if not 0.0 <= config.dropout < 1.0:
            raise RnntagError(f"model.dropout = {config.dropout} is outside [0, 1)")
        return
    if config.lr == 0:
        raise RnntagError("train.lr = 0 would train nothing; give a positive learning rate")
    if 0 < config.bptt < MIN_WINDOW:
        raise RnntagError(f"train.bptt = {config.bptt} must be 0 or at least {MIN_WINDOW}")


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
