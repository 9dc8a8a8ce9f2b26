"""A model's weights: the network a configuration describes, and its `model.safetensors`,
saved with the rest of the directory (`rnntag.model.directory`) and loaded only after every
tensor's name, dtype and shape has been checked against the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.overrides import TorchFunctionMode

from rnntag.errors import RnntagError
from rnntag.io.files import current
from rnntag.io.schemes import allowed_transitions
from rnntag.model.config import ModelInfo
from rnntag.model.directory import WEIGHTS_FILE, read_info, save_files
from rnntag.model.network import SequenceTagger

WORD_TABLE = "word_embed.weight"
# One float32 scale per row of a word table stored in 8 bits: row = int8 values * scale.
WORD_SCALE = "word_embed.scale"
# safetensors dtypes a model's weights may be stored in.
WEIGHT_DTYPES: tuple[str, ...] = ("F16", "BF16", "F32")
HALF_MAX = torch.finfo(torch.float16).max


def build_model(info: ModelInfo) -> SequenceTagger:
    """An untrained network with the architecture, vocabulary sizes and constraints in `info`."""
    allowed = None
    if info.scheme is not None and info.model.constrain:
        moves = allowed_transitions(info.scheme, info.vocab.labels)
        allowed = (torch.tensor(moves[0]), torch.tensor(moves[1]), torch.tensor(moves[2]))
    vocab = info.vocab
    pieces = len(vocab.bpe["model"]["vocab"]) if vocab.bpe is not None else 0
    return SequenceTagger(
        info.model, len(vocab.words), len(vocab.chars), pieces, len(vocab.labels), allowed
    )


class _Unallocated(TorchFunctionMode):
    """While active, layers get their parameters on the meta device, as shapes without memory,
    and initialising them does nothing, so that a network whose weights are about to be
    loaded is built without being allocated and randomly initialised for nothing (the start-up
    time this saves is in docs/benchmarks.md).

    Other tensors, like the CRF's masks, are made as usual: they are not among the weights.
    (`torch.device("meta")` would put them on the meta device too, and its `normal_` imports
    torch's compiler, a slow import.)
    """

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.empty:
            # Every torch layer, and the CRF, allocates its parameters with `torch.empty`.
            kwargs = {**kwargs, "device": "meta"}
        elif _sets_values(func):
            # `torch.nn.init` functions take their tensor by keyword.
            target = args[0] if args else kwargs.get("tensor")
            if isinstance(target, torch.Tensor) and target.is_meta:
                # An initialisation (`normal_`, `uniform_`...) of a tensor without values.
                return target
        return func(*args, **kwargs)


def _sets_values(func: Any) -> bool:
    """Whether `func` is a torch function or method that overwrites its first argument's values
    in place (by torch's naming, its name ends in an underscore)."""
    name = getattr(func, "__name__", "")
    return name.endswith("_") and not name.endswith("__") and name != "requires_grad_"


def save_model(directory: Path, info: ModelInfo, model: SequenceTagger) -> None:
    """Save the weights, config and vocabularies as one (see `replace_together`).

    Args:
        directory: Model directory, created if missing.
        info: Configuration, vocabularies and results.
        model: The network.
    """
    tensors = stored({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    save_files(directory, info, {WEIGHTS_FILE: lambda path: save_file(tensors, path)})


def stored(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors as `model.safetensors` holds them, about a third of their float32 bytes.

    The word table, most of a model's bytes, is kept in 8 bits with one scale per row (its
    largest magnitude / 127); other floating-point tensors in half precision where they fit
    its range, float32 where they do not. The rounding is far below what training moves the
    weights by: re-saving the shipped models changed the tags of 0 of 3,250 NER and 3 of
    2,001 POS dev sentences.

    Args:
        state: A network's `state_dict`, on the CPU.

    Returns:
        The tensors to save; `restored` turns them back into a `state_dict`.
    """
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name == WORD_TABLE:
            table = tensor.float()  # (words, word_dim)
            scale = table.abs().amax(dim=1) / 127  # (words,)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # (words,)
            values = torch.round(table / scale[:, None]).clamp(-127, 127)  # (words, word_dim)
            tensors[name], tensors[WORD_SCALE] = values.to(torch.int8).contiguous(), scale
        elif tensor.is_floating_point() and _fits_half(tensor):
            tensors[name] = tensor.half()
        else:
            tensors[name] = tensor
    return tensors


def _fits_half(tensor: torch.Tensor) -> bool:
    return tensor.numel() == 0 or bool(tensor.abs().max() <= HALF_MAX)


def restored(tensors: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The `state_dict` that `stored` tensors (or an older file's, whose word table is in half
    precision without scales) stand for, every tensor in `dtype`."""
    out = {k: v.to(dtype) for k, v in tensors.items() if k != WORD_SCALE}
    if WORD_SCALE in tensors:
        out[WORD_TABLE] = out[WORD_TABLE] * tensors[WORD_SCALE].to(dtype)[:, None]
    return out


def _check_header(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Refuse a weights file whose tensors' names, dtypes or shapes are not those of `state`
    as `stored` writes it (or an older release wrote it), before any weight is read."""
    try:
        with safe_open(str(path), framework="pt") as weights:
            found = {k: tuple(weights.get_slice(k).get_shape()) for k in weights.keys()}  # noqa: SIM118
            dtypes = {k: weights.get_slice(k).get_dtype() for k in found}
    except (SafetensorError, OSError) as exc:
        raise RnntagError(f"cannot read model weights: {exc}", str(path)) from None
    expected: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
        k: (tuple(v.shape), WEIGHT_DTYPES) for k, v in state.items()
    }
    if WORD_SCALE in found:
        table = expected[WORD_TABLE][0]
        expected[WORD_TABLE] = (table, ("I8",))
        expected[WORD_SCALE] = (table[:1], ("F32",))
    for name, (shape, allowed) in expected.items():
        if name not in found:
            raise RnntagError(f"model weights lack tensor {name!r}", str(path))
        if dtypes[name] not in allowed:
            kind = "8-bit integers" if allowed == ("I8",) else "floating-point numbers"
            raise RnntagError(f"tensor {name!r} holds {dtypes[name]}, not {kind}", str(path))
        if found[name] != shape:
            raise RnntagError(
                f"tensor {name!r} has shape {list(found[name])}, config implies {list(shape)}",
                str(path),
            )
    extra = set(found) - set(expected)
    if extra:
        raise RnntagError(f"model weights hold unexpected tensor {sorted(extra)[0]!r}", str(path))


def first_not_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first tensor holding a NaN or an infinity, or None."""
    for name, tensor in tensors.items():
        # One pass: the extremes are NaN if any number is, and infinite if any is.
        extremes = torch.stack(torch.aminmax(tensor.detach())) if tensor.numel() else tensor
        if not bool(torch.isfinite(extremes).all()):
            return name
    return None


def load_model(
    directory: Path, device: torch.device | None = None
) -> tuple[ModelInfo, SequenceTagger]:
    """Load a model directory, checking every tensor's name and shape before reading weights.

    Args:
        directory: Model directory.
        device: Where to put the network; the CPU by default.

    Returns:
        The configuration and the network in evaluation mode.
    """
    info = read_info(directory)
    path = current(directory, WEIGHTS_FILE)
    # read_info has bounded every size, so the network can be built before the weights are read.
    with _Unallocated():
        model = build_model(info)
    state = model.state_dict()
    _check_header(path, state)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, RuntimeError) as exc:
        raise RnntagError(f"cannot read model weights: {exc}", str(path)) from None
    # The file's tensors become the parameters, cast as copying into them would cast them.
    tensors = restored(tensors, state[WORD_TABLE].dtype)
    bad = first_not_finite(tensors)
    if bad is not None:
        raise RnntagError(f"tensor {bad!r} holds numbers that are not finite", str(path))
    model.load_state_dict(tensors, assign=True)
    return info, model.to(device or torch.device("cpu")).eval()
