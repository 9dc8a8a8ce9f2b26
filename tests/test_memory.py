"""Returning freed memory to the system."""

from __future__ import annotations

import os

import pytest
import torch

import rnntag
from rnntag.model.runtime import KERNEL_CACHE_SIZE, release_free_memory


def test_release_free_memory_keeps_live_tensors_intact():
    # Whatever the C library, the call is safe, and live data is untouched.
    kept = torch.arange(1_000_000, dtype=torch.float32)
    freed = [torch.ones(100_000 * size) for size in range(1, 20)]
    del freed
    release_free_memory()
    assert torch.equal(kept, torch.arange(1_000_000, dtype=torch.float32))


@pytest.mark.parametrize(("set_by_user", "expected"), [(None, str(KERNEL_CACHE_SIZE)), ("7", "7")])
def test_kernel_cache_is_bounded_unless_the_user_set_it(monkeypatch, set_by_user, expected):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    if set_by_user is not None:
        monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", set_by_user)
    rnntag.load("ner", device="cpu")
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == expected
