"""Shared fixtures: seeded random sources and the sample data folder."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded torch generator, so every random test case is reproducible."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def rng() -> random.Random:
    """A seeded Python random source."""
    return random.Random(1234)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    # Parameter initialisation uses the global generator.
    torch.manual_seed(0)


@pytest.fixture
def data_dir() -> Path:
    """The folder of hand-written sample files."""
    return DATA
