"""Resumable training checkpoints, without pickle: tensors (model, optimizer, torch RNG) in
safetensors, everything else (loop position, Python RNG, scheduler, scores) in JSON.

A checkpoint lives in `MODEL_DIR/checkpoint/`; its two files are replaced together, so a
kill leaves the previous checkpoint or the new one. Its JSON names the SHA-256 of its tensor
file, so a file changed since is detected, not loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from rnntag.errors import RnntagError
from rnntag.io.files import (
    COMMITTED,
    STAGING,
    current,
    parse_json,
    read_small_text,
    replace_together,
)
from rnntag.model.config import ModelInfo, from_dict
from rnntag.model.directory import check_info

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
TENSORS_FILE = "state.safetensors"
CHECKPOINT_VERSION = 1


@dataclass
class LoopState:
    """Where a training run stands."""

    epoch: int = 1  # the epoch in progress (or the next one, when `batch` is 0)
    batch: int = 0  # batches of `epoch` already trained
    best_score: float | None = None
    stale: int = 0  # epochs without dev improvement
    history: list[dict[str, Any]] = field(default_factory=list)
    loss_sum: float = 0.0  # this epoch's running sums, for its mean loss and speed
    token_sum: int = 0
    epoch_seconds: float = 0.0
    seconds: float = 0.0  # training time before this process
    epoch_rng: list[Any] = field(default_factory=list)  # Python RNG state at epoch start


def settings_of(info: ModelInfo) -> list[dict[str, Any]]:
    """The model and training settings as a checkpoint stores them, for `fingerprint`."""
    return [dataclasses.asdict(info.model), dataclasses.asdict(info.train)]


def fingerprint(
    settings: list[dict[str, Any]], sentences: list[list[str]], tags: list[list[str]]
) -> str:
    """A digest of the training data and settings, so a resume on other data is refused.

    Args:
        settings: `settings_of` a training's info, or `Checkpoint.settings`: as stored, so
            that settings added by a later release leave an earlier checkpoint's digest as
            it was.
        sentences: The training tokens.
        tags: Their tags, in the scheme the training uses.

    Returns:
        The hexadecimal digest.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for tokens, labels in zip(sentences, tags, strict=True):
        digest.update("\t".join(tokens).encode() + b"\n" + "\t".join(labels).encode() + b"\n")
    return digest.hexdigest()


def save_checkpoint(
    out: Path,
    info: ModelInfo,
    loop: LoopState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data_digest: str,
    average: torch.nn.Module | None = None,
) -> None:
    """Write a checkpoint into `out/checkpoint`, replacing any earlier one; `average` is the
    moving average of the weights, when the training keeps one."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if average is not None:
        tensors |= {
            f"average.{k}": v.detach().cpu().contiguous() for k, v in average.state_dict().items()
        }
    optimizer_state = optimizer.state_dict()
    numbers: dict[str, dict[str, Any]] = {}
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                numbers.setdefault(str(index), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = cuda_state
    tensors_bytes = save(tensors)
    state = {
        "checkpoint_version": CHECKPOINT_VERSION,
        "tensors_sha256": hashlib.sha256(tensors_bytes).hexdigest(),
        "data": data_digest,
        "info": info.to_dict(),
        "loop": asdict(loop),
        "optimizer": {"param_groups": optimizer_state["param_groups"], "numbers": numbers},
        "scheduler": scheduler.state_dict(),
    }
    text = json.dumps(state)
    replace_together(
        out / CHECKPOINT_DIR,
        {
            TENSORS_FILE: lambda path: Path(path).write_bytes(tensors_bytes),
            STATE_FILE: lambda path: Path(path).write_text(text, encoding="utf-8"),
        },
    )


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    info: ModelInfo
    loop: LoopState
    data_digest: str
    tensors: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    path: Path  # its state.json, for messages
    settings: list[dict[str, Any]]  # model and training settings as stored (`fingerprint`)
    out: Path  # the model directory whose training it resumes, for messages

    def made_from(self, sentences: list[list[str]], tags: list[list[str]]) -> bool:
        """Whether the checkpoint was made from this training data, with its settings as it
        stored them (see `fingerprint`)."""
        return fingerprint(self.settings, sentences, tags) == self.data_digest

    def restore(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        rng: random.Random,
        average: torch.nn.Module | None = None,
    ) -> None:
        """Put the saved weights (and their moving average, if the training keeps one),
        optimizer, scheduler and random states back, after checking
        that each has the shape this training's own would have: a hand-edited `state.json`
        is refused in one line, never half restored."""
        where = str(self.path)
        try:
            groups = self.optimizer["param_groups"]
            _check_like(groups, optimizer.state_dict()["param_groups"], "param_groups")
            _check_like(self.scheduler, scheduler.state_dict(), "scheduler")
            if not all(group["lr"] > 0 for group in groups):
                raise ValueError("the learning rate must be above 0")
            numbers = self.optimizer["numbers"]
            if not isinstance(numbers, dict) or not all(
                isinstance(values, dict) and all(_is_number(v) for v in values.values())
                for values in numbers.values()
            ):
                raise ValueError("optimizer.numbers must map indices to numbers")
            python_rng = _python_rng_state(self.loop.epoch_rng)
            state: dict[int, dict[str, Any]] = {}
            for key, value in self.tensors.items():
                if key.startswith("optimizer."):
                    _, index, name = key.split(".", 2)
                    state.setdefault(int(index), {})[name] = value
            for index, values in numbers.items():
                state.setdefault(int(index), {}).update(values)
            model.load_state_dict(self._group("model."))
            if average is not None:
                average.load_state_dict(self._group("average."))
            optimizer.load_state_dict({"state": state, "param_groups": groups})
            scheduler.load_state_dict(self.scheduler)
            rng.setstate(python_rng)
            torch.set_rng_state(self.tensors["rng.torch"])
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, RuntimeError) as exc:
            raise RnntagError(f"invalid checkpoint: {exc}", where) from None
        cuda = [self.tensors[k] for k in sorted(self.tensors) if k.startswith("rng.cuda.")]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda)

    def _group(self, prefix: str) -> dict[str, torch.Tensor]:
        """The saved tensors whose names start with `prefix`, without it."""
        return {k.removeprefix(prefix): v for k, v in self.tensors.items() if k.startswith(prefix)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# What may differ between the optimizer and scheduler that a training makes and those it
# resumes: the learning rate and the scheduler's count of steps. The rest follows from the
# recipe, which a resume has checked is unchanged, so it must be equal.
_MOVING = {
    "lr",
    "_last_lr",
    "last_epoch",
    "_step_count",
    "_is_initial",
    "_get_lr_called_within_step",
}


def _check_like(saved: Any, fresh: Any, where: str = "state", moving: bool = False) -> None:
    """Refuse a saved optimizer or scheduler state unlike `fresh`, the one this training
    makes: other keys or lengths, another value where it must be equal, or a value out of
    range (a learning rate that is not a positive finite number, a negative step count)."""
    if isinstance(fresh, dict):
        if not isinstance(saved, dict) or set(saved) != set(fresh):
            raise ValueError(f"{where} must have the keys {sorted(fresh)}")
        for key, value in fresh.items():
            _check_like(saved[key], value, f"{where}.{key}", moving or key in _MOVING)
    elif isinstance(fresh, list | tuple):
        if not isinstance(saved, list) or len(saved) != len(fresh):
            raise ValueError(f"{where} must be a list of {len(fresh)}")
        for index, (item, value) in enumerate(zip(saved, fresh, strict=True)):
            _check_like(item, value, f"{where}[{index}]", moving)
    elif not moving:
        if saved != fresh or type(saved) is not type(fresh):
            raise ValueError(f"{where} must be {fresh!r}, as the recipe gives")
    elif isinstance(fresh, bool):
        if not isinstance(saved, bool):
            raise ValueError(f"{where} must be true or false")
    elif not _is_number(saved) or saved < 0 or (isinstance(fresh, int) != isinstance(saved, int)):
        raise ValueError(f"{where} must be a finite {type(fresh).__name__} of at least 0")


def _python_rng_state(saved: Any) -> tuple[Any, ...]:
    """Python's RNG state from its JSON form, checked by a throwaway generator first."""
    version, internal, gauss = saved
    state = (version, tuple(internal), gauss)
    random.Random().setstate(state)
    return state


def load_checkpoint(out: Path) -> Checkpoint:
    """Read `out/checkpoint`, checking that it is complete and of a known version."""
    directory = out / CHECKPOINT_DIR
    path = current(directory, STATE_FILE)
    if not path.exists():
        raise RnntagError("no checkpoint to resume from", str(directory))
    state = parse_json(read_small_text(path, "checkpoint"), path, "checkpoint")
    if not isinstance(state, dict) or state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise RnntagError("unknown checkpoint version", str(path))
    tensors_path = current(directory, TENSORS_FILE)
    try:
        data = tensors_path.read_bytes()
    except OSError as exc:
        what = f"cannot read the checkpoint: {exc.strerror}"
        raise RnntagError(what, str(tensors_path)) from None
    if hashlib.sha256(data).hexdigest() != state.get("tensors_sha256"):
        raise RnntagError("checkpoint tensors do not match its state.json", str(tensors_path))
    try:
        tensors = load(data)
        info = from_dict(ModelInfo, state["info"], "info")
        check_info(info)
        loop = _loop_state(state["loop"])
        settings = [state["info"]["model"], state["info"]["train"]]
        return Checkpoint(
            info, loop, state["data"], tensors, state["optimizer"], state["scheduler"], path,
            settings, out,
        )  # fmt: skip
    except (SafetensorError, KeyError, TypeError, ValueError, RnntagError) as exc:
        raise RnntagError(f"invalid checkpoint: {exc}", str(path)) from None


def _loop_state(saved: Any) -> LoopState:
    """The loop's position, every field present and in range."""
    missing = {f.name for f in dataclasses.fields(LoopState)} - set(saved)
    if missing:
        raise ValueError(f"loop lacks {sorted(missing)[0]!r}")
    loop = from_dict(LoopState, saved, "loop")
    counts = {"epoch": 1, "batch": 0, "stale": 0, "token_sum": 0}
    for name, least in counts.items():
        if getattr(loop, name) < least:
            raise ValueError(f"loop.{name} must be at least {least}")
    for name in ("loss_sum", "epoch_seconds", "seconds", "best_score"):
        value = getattr(loop, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"loop.{name} must be finite")
    if not all(isinstance(epoch, dict) for epoch in loop.history):
        raise ValueError("loop.history must hold one object per epoch")
    return loop


def remove_checkpoint(out: Path) -> None:
    """Delete the checkpoint of a finished run: rnntag's files only, then the folder if that
    leaves it empty."""
    directory = out / CHECKPOINT_DIR
    for folder in (directory / STAGING, directory / COMMITTED, directory):
        for name in (STATE_FILE, TENSORS_FILE):
            (folder / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()
