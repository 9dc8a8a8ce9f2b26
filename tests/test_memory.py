"""Returning freed memory to the system."""

from __future__ import annotations

import torch

from rnntag.memory import release_free_memory


def test_release_free_memory_keeps_live_tensors_intact():
    # Whatever the C library, the call is safe, and live data is untouched.
    kept = torch.arange(1_000_000, dtype=torch.float32)
    freed = [torch.ones(100_000 * size) for size in range(1, 20)]
    del freed
    release_free_memory()
    assert torch.equal(kept, torch.arange(1_000_000, dtype=torch.float32))
