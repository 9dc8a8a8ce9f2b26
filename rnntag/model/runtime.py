"""Handing memory that the C allocator keeps after it is freed back to the system, and
bounding what torch's CPU kernels keep for later.

Training allocates activation tensors whose sizes change with every batch's sentence length.
glibc keeps the freed blocks for reuse (blocks of up to 32 MB move from mmap to its heap once
one of their size is freed) and the heap fragments, so a CoNLL-2003 epoch grows the process
by 150 MB beyond what it ever holds at once. `malloc_trim` returns the free pages, heap
holes included, at the cost of faulting them in again when they are next used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable

import torch

from rnntag.errors import RnntagError, UsageError

# Compiled oneDNN primitives kept at once (see `bound_kernel_cache`).
KERNEL_CACHE_SIZE = 64


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Return the C allocator's free memory to the system, where the allocator allows it."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def bound_kernel_cache() -> None:
    """Keep at most `KERNEL_CACHE_SIZE` compiled oneDNN primitives, unless the user has set
    `ONEDNN_PRIMITIVE_CACHE_CAPACITY`.

    torch runs RNNs and convolutions on the CPU through oneDNN, which compiles a primitive
    for every input shape and keeps the last 1,024, each with buffers of its own. Batches of
    sentences of one length come in many shapes, so tagging a large text with both shipped
    models grew by some 350 MB of such primitives (1 MB of text: 674 MB at the end against
    436 MB with 32 kept), and a training epoch likewise. A handful of shapes cover most
    batches, so a few dozen kept cost no measurable speed. oneDNN reads the setting when it
    makes its first primitive, so this must run before the network does.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(KERNEL_CACHE_SIZE))


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
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_AUTO_THREADS, (cores or 1) // 2))
