"""The metadata of an exported ONNX model, checked against itself and the graph before the
runtime trusts it: a file edited by hand, or written by another release, is refused with
an `RnntagError` rather than tagging wrongly or failing deep inside. Torch-free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnntag.errors import RnntagError
from rnntag.io.schemes import SCHEMES, is_span_tag
from rnntag.model.vocab import check_entries

# The layout `rnntag export` writes (`rnntag.exporting.onnx`); the runtime reads no other.
FORMAT_VERSION = 1
_SETTINGS = {
    "scheme": lambda v: v is None or v in SCHEMES,
    "data_scheme": lambda v: v is None or v in SCHEMES,
    "normalize_digits": lambda v: isinstance(v, bool),
    "lowercase": lambda v: isinstance(v, bool),
    "max_word_chars": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "casing": lambda v: isinstance(v, bool),
    "decoder": lambda v: v in ("crf", "softmax"),
}


@dataclass
class Metadata:
    """What the runtime needs besides the graph.

    Attributes:
        settings: Schemes, word lookup and decoder (the keys of `_SETTINGS`).
        labels: The label of each emission column.
        words: The word vocabulary.
        chars: The character vocabulary.
        crf: (num_tags,) start, (num_tags, num_tags) transitions and (num_tags,) end
            scores, or None for a softmax decoder.
        memory: For a document-memory model, the output layer's (num_tags, state_size)
            columns that read the memory and its (num_tags,) flag column; else None.
    """

    settings: dict[str, Any]
    labels: list[str]
    words: list[str]
    chars: list[str]
    crf: list[np.ndarray] | None
    memory: list[np.ndarray] | None


def read_metadata(meta: dict[str, str], shapes: dict[str, list[Any]], where: str) -> Metadata:
    """The checked metadata of an exported model.

    Args:
        meta: The file's metadata, each value a JSON text.
        shapes: The shape of each graph output (`emissions`, and `states` with a memory);
            a dimension is an int where the graph fixes it.
        where: The file, for error messages.

    Returns:
        The metadata.
    """
    try:
        fields = {key: json.loads(meta[key]) for key in ("rnntag", "settings", "labels", "crf")}
        fields["words"], fields["chars"] = json.loads(meta["words"]), json.loads(meta["chars"])
        memory = json.loads(meta.get("memory", "null"))
    except (KeyError, ValueError):
        raise RnntagError("not an ONNX file written by rnntag export", where) from None
    try:
        return _checked(fields, memory, shapes)
    except (ValueError, TypeError, KeyError) as exc:
        raise RnntagError(f"damaged rnntag metadata: {exc}", where) from None


def _checked(fields: dict[str, Any], memory: Any, shapes: dict[str, list[Any]]) -> Metadata:
    version = fields["rnntag"].get("format_version") if isinstance(fields["rnntag"], dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(f"format_version {version!r}; this release reads {FORMAT_VERSION}")
    settings = fields["settings"]
    for key, valid in _SETTINGS.items():
        if not isinstance(settings, dict) or key not in settings or not valid(settings[key]):
            raise ValueError(f"settings.{key} is missing or not valid")
    labels = _strings(fields["labels"], "labels")
    if not labels or len(set(labels)) != len(labels) or not all(labels):
        raise ValueError("labels must be distinct, non-empty strings")
    if settings["scheme"] is not None and not all(is_span_tag(tag) for tag in labels):
        raise ValueError(f"labels are not {settings['scheme']} span tags")
    words, chars = _strings(fields["words"], "words"), _strings(fields["chars"], "chars")
    check_entries(words)
    check_entries(chars)
    num_tags = shapes["emissions"][-1]
    if isinstance(num_tags, int) and num_tags != len(labels):
        raise ValueError(f"{len(labels)} labels for {num_tags} emission scores")
    crf = fields["crf"]
    if (crf is None) != (settings["decoder"] == "softmax"):
        raise ValueError("crf scores must be given exactly for a CRF decoder")
    n = len(labels)
    scores = None if crf is None else [_array(crf, k) for k in ("start", "transitions", "end")]
    if scores is not None and [s.shape for s in scores] != [(n,), (n, n), (n,)]:
        raise ValueError(f"crf scores must be ({n},), ({n}, {n}) and ({n},)")
    if (memory is None) != ("states" not in shapes):
        raise ValueError("memory weights must be given exactly for a graph with states")
    columns = None if memory is None else [_array(memory, k) for k in ("weight", "flag")]
    if columns is not None:
        size = shapes["states"][-1]
        weight, flag = columns
        if weight.ndim != 2 or weight.shape[0] != n or flag.shape != (n,):
            raise ValueError(f"memory weights must be ({n}, state size) and ({n},)")
        if isinstance(size, int) and weight.shape[1] != size:
            raise ValueError(f"memory weights read {weight.shape[1]} of {size} state numbers")
    return Metadata(settings, labels, words, chars, scores, columns)


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings")
    return value


def _array(record: Any, key: str) -> np.ndarray:
    """A finite float32 array from a JSON list."""
    if not isinstance(record, dict) or key not in record:
        raise ValueError(f"{key!r} is missing")
    array = np.asarray(record[key], dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{key!r} holds a number that is not finite")
    return array
