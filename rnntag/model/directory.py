"""Model directories, format version 2: `config.json` (architecture, training recipe, labels,
schemes, versions, best result), `words.txt` and `chars.txt` (one vocabulary entry per line,
line number = index from 0), `bpe.json` (the byte-pair model in `tokenizers`' own format,
when there is one), `model.safetensors` (weights) and `metrics.jsonl` (one line per training
epoch). Version 1 kept the vocabularies and the epochs inside `config.json`; such directories
still load. Nothing in a model directory is ever executed.

This module reads and writes everything but the weights (`rnntag.model.modelfile`), without
torch, so that what only needs a model's description starts in a fraction of a second.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnntag.errors import RnntagError
from rnntag.io.files import atomic_write, current, parse_json, read_small_text, replace_together
from rnntag.io.schemes import SCHEMES, is_span_tag
from rnntag.io.text import MAX_FORMS
from rnntag.model.config import FORMAT_VERSION, ModelInfo, check_settings, from_dict
from rnntag.model.subword import load_bpe
from rnntag.model.vocab import check_entries
from rnntag.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.jsonl"
# Each vocabulary of the format-2 directory, by the field of `Vocabularies` it holds.
VOCABULARY_FILES = {"words": "words.txt", "chars": "chars.txt"}
BPE_FILE = "bpe.json"
# Format versions this rnntag reads.
READABLE_VERSIONS = (1, FORMAT_VERSION)
# Largest vocabulary or byte-pair file read (a model's words.txt is about 1 MB).
MAX_VOCABULARY_BYTES = 1 << 28
# Largest word embedding matrix a config may ask for (2 GB of float32).
MAX_EMBEDDING_ELEMENTS = 2**29
# Labels a model may have: UD's XPOS tag sets and fine-grained NER stay in the hundreds.
MAX_LABELS = 2000


# Names of the shipped models; any folder name under the models directory works too.
# Short names of the shipped models: `ner` and `pos` are the English ones.
MODEL_NAMES = {
    "ner": "en-ner-conll03",
    "pos": "en-pos-ewt",
    "en-ner": "en-ner-conll03",
    "en-pos": "en-pos-ewt",
    "es-ner": "es-ner-conll02",
    "nl-ner": "nl-ner-conll02",
}
# Installed, the models are package data (rnntag/models); in a checkout, the top-level models/.
_PACKAGE = Path(__file__).resolve().parent.parent
MODEL_ROOTS = (_PACKAGE / "models", _PACKAGE.parent / "models")


def resolve_model(name: str | Path) -> Path:
    """The directory of a model.

    A shipped model's short name (`ner`, `pos`) or folder name (`en-ner-conll03`), given as a
    bare word (a string without a path separator), always means the shipped model, even where
    a folder of that name exists: write `./ner` for the folder. Anything else, and any `Path`,
    is a directory.
    """
    text = str(name)
    if isinstance(name, str) and os.sep not in text and "/" not in text:
        folder = MODEL_NAMES.get(text, text)
        for root in MODEL_ROOTS:
            if folder in MODEL_NAMES.values() and (root / folder / CONFIG_FILE).is_file():
                return root / folder
    return Path(name)


def _shipped_hint(directory: Path) -> str:
    """The shipped models' names, and the one closest to a name that is no model."""
    close = difflib.get_close_matches(
        directory.name.lower(), [*MODEL_NAMES, *MODEL_NAMES.values()], n=1, cutoff=0.5
    )
    hint = f"; the shipped models are {', '.join(MODEL_NAMES)}"
    return hint + (f" (did you mean {close[0]!r}?)" if close else "")


def save_config(directory: Path, info: ModelInfo) -> None:
    """Save the config and vocabularies as one, leaving the weights as they are."""
    save_files(directory, info, {})


def save_files(
    directory: Path, info: ModelInfo, writers: dict[str, Callable[[str], object]]
) -> None:
    """Replace `writers`' files, `config.json` and the vocabulary files that change, together
    (see `replace_together`).

    Args:
        directory: Model directory, created if missing.
        info: Configuration, vocabularies and results.
        writers: Other files to write, by name, each a function of the path to write to.
    """
    info.rnntag_version, info.format_version = __version__, FORMAT_VERSION
    vocab = info.vocab
    texts = {file: _lines(getattr(vocab, name), name) for name, file in VOCABULARY_FILES.items()}
    if vocab.bpe is not None:
        texts[BPE_FILE] = json.dumps(vocab.bpe, ensure_ascii=False)
    for name, text in texts.items():
        path = current(directory, name)
        if not (path.is_file() and path.read_bytes() == text.encode("utf-8")):
            writers[name] = functools.partial(_write_exactly, text=text)
    config = json.dumps(config_json(info), ensure_ascii=False, indent=1) + "\n"
    writers[CONFIG_FILE] = functools.partial(_write_exactly, text=config)
    replace_together(directory, writers)
    if vocab.bpe is None:
        # An earlier model's: harmless (read only for a byte-pair config), but misleading.
        (directory / BPE_FILE).unlink(missing_ok=True)


def config_json(info: ModelInfo) -> dict[str, Any]:
    """The content of a format-2 `config.json`: everything but the vocabularies and the
    epochs, which have files of their own."""
    data = info.to_dict()
    vocab = data.pop("vocab")
    data.update(format_version=FORMAT_VERSION, labels=vocab["labels"])
    data["results"].pop("history", None)
    # The training machine's folders mean nothing elsewhere.
    if data["train"]["embeddings"]:
        data["train"]["embeddings"] = Path(data["train"]["embeddings"]).name
    order = (
        "format_version", "rnntag_version", "lang", "scheme", "data_scheme", "hyphens", "labels",
        "results",
    )  # fmt: skip
    return {**{key: data.pop(key) for key in order}, **data}


def _lines(entries: list[str], name: str) -> str:
    """A vocabulary as text, an entry per line."""
    if any("\n" in entry for entry in entries):
        raise RnntagError(f"a {name} vocabulary entry holds a line break")
    return "".join(entry + "\n" for entry in entries)


def _write_exactly(path: str, text: str) -> None:
    # No newline translation: an entry may hold a carriage return.
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)


def save_metrics(directory: Path, history: list[dict[str, Any]]) -> None:
    """Write `metrics.jsonl`, one JSON object per epoch, atomically."""
    text = "".join(json.dumps(epoch) + "\n" for epoch in history)
    atomic_write(directory / METRICS_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_info(directory: Path) -> ModelInfo:
    """Read and validate `config.json`.

    Args:
        directory: Model directory.

    Returns:
        The validated configuration.
    """
    if not directory.is_dir():
        raise RnntagError(f"model directory not found{_shipped_hint(directory)}", str(directory))
    path = current(directory, CONFIG_FILE)
    data = parse_json(read_small_text(path, "model config"), path, "model config")
    if not isinstance(data, dict):
        raise RnntagError("model config must be a JSON object", str(path))
    version = data.get("format_version")
    if version not in READABLE_VERSIONS:
        raise RnntagError(
            f"model format version {version!r} is not supported"
            f" (this rnntag reads {' and '.join(map(str, READABLE_VERSIONS))}); upgrade rnntag",
            str(path),
        )
    if version == FORMAT_VERSION:
        model = data.get("model")
        bpe = isinstance(model, dict) and model.get("subword") == "bpe"
        data["vocab"] = _read_vocabularies(directory, data.pop("labels", None), bpe)
    try:
        info = from_dict(ModelInfo, data, "config")
        check_info(info)
    except RnntagError as exc:
        raise RnntagError(f"invalid model config: {exc}", str(path)) from None
    return info


def _read_vocabularies(directory: Path, labels: Any, bpe: bool) -> dict[str, Any]:
    """The `vocab` object of a format-1 config, from a format-2 directory's files; the
    byte-pair model only when the config uses one."""
    vocab: dict[str, Any] = {"labels": labels, "bpe": None}
    for name, file in VOCABULARY_FILES.items():
        text = read_small_text(current(directory, file), "model file", MAX_VOCABULARY_BYTES)
        vocab[name] = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    if bpe:
        path = current(directory, BPE_FILE)
        text = read_small_text(path, "model file", MAX_VOCABULARY_BYTES)
        vocab["bpe"] = parse_json(text, path, "byte-pair model")
    return vocab


def check_info(info: ModelInfo) -> None:
    """Check what `from_dict` cannot: sizes, vocabularies, labels, schemes, byte-pair model."""
    check_settings(info.model)
    vocab = info.vocab
    for name, items in (("words", vocab.words), ("chars", vocab.chars)):
        try:
            # Checked, not built: the tagger's encoder builds the index.
            check_entries(items)
        except ValueError as exc:
            raise RnntagError(f"vocab.{name}: {exc}") from None
    if len(vocab.words) * info.model.word_dim > MAX_EMBEDDING_ELEMENTS:
        raise RnntagError(
            f"{len(vocab.words)} words x {info.model.word_dim} dimensions is too large"
        )
    if not vocab.labels or len(set(vocab.labels)) != len(vocab.labels):
        raise RnntagError("labels must be non-empty and distinct")
    if len(vocab.labels) > MAX_LABELS:
        # The CRF's transitions grow with the square of the labels.
        raise RnntagError(f"{len(vocab.labels)} labels is more than {MAX_LABELS}")
    if not all(vocab.labels):
        raise RnntagError("a label is the empty string")
    bad = next((tag for tag in vocab.labels if not is_span_tag(tag)), None)
    if info.scheme is not None and bad is not None:
        raise RnntagError(f"label {bad!r} is no span tag, but the scheme is {info.scheme}")
    for name in ("scheme", "data_scheme"):
        if getattr(info, name) not in (None, *SCHEMES):
            raise RnntagError(f"{name} must be one of {', '.join(SCHEMES)} or null")
    if len(info.forms) > MAX_FORMS or any(not f or f != "".join(f.split()) for f in info.forms):
        raise RnntagError(f"forms: at most {MAX_FORMS} tokens, none empty or with white space")
    if info.model.subword == "bpe" and vocab.bpe is None:
        raise RnntagError("model.subword is bpe but vocab.bpe is missing")
    if vocab.bpe is not None:
        load_bpe(vocab.bpe)
