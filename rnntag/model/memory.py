"""Handing memory that the C allocator keeps after it is freed back to the system, and
bounding what torch's CPU kernels keep for later.

Training allocates activation tensors whose sizes change with every batch's sentence length.
glibc keeps the freed blocks for reuse (blocks of up to 32 MB move from mmap to its heap once
one of their size is freed) and the heap fragments, so a training epoch grows the process
well beyond what it ever holds at once (docs/benchmarks.md). `malloc_trim` returns the free
pages, heap holes included, at the cost of faulting them in again when they are next used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable

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
    sentences of one length come in many shapes, so tagging a large text, or a training
    epoch, grew by hundreds of MB of such primitives (docs/benchmarks.md). A handful of shapes
    cover most batches, so a few dozen kept cost no measurable speed. oneDNN reads the setting
    when it makes its first primitive, so this must run before the network does. It changes the
    whole process, so the library leaves it to the command line (and to the Dask workers it
    sets up); a program that tags much text through the API may call it first.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(KERNEL_CACHE_SIZE))
