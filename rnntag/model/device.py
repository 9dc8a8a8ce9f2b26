"""Where the network runs: the device (`auto`, `cpu` or `cuda`) and the CPU threads."""

from __future__ import annotations

import os

import torch

from rnntag.errors import RnntagError, UsageError


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RnntagError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


# Most CPU threads the automatic choice takes: a BiLSTM of rnntag's size gains little beyond.
MAX_AUTO_THREADS = 4


def threads_for(requested: int) -> int:
    """The CPU threads the network runs on: `requested`, or with 0 half the cores this
    process may use, 1 to `MAX_AUTO_THREADS`. Torch's own default takes every core, which
    measured slower on a 2-core machine even when idle, and several times slower beside one
    other busy process (docs/usage.md, Tag)."""
    if requested > 0:
        return requested
    return max(1, min(MAX_AUTO_THREADS, usable_cores() // 2))


def usable_cores() -> int:
    """The cores this process may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1
