"""Handing memory that the C allocator keeps after it is freed back to the system.

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
from collections.abc import Callable


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
