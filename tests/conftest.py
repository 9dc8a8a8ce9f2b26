"""What the tests share: the sample data folder, the two ways of running the command line
(in this process, in a fresh one), and seeded random sources.

Test modules import the names from here (`from conftest import DATA, run`); pytest puts
this folder on the import path.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch

from rnntag.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
TIMEOUT = 300
# Pinned so the scores do not move with the library's defaults. Over seeds 1-3 these reached
# dev span F1 0.89-0.93 (NER) and dev accuracy 0.95-0.98 (POS) in about 3 s of epochs.
TINY_TRAINING = [
    "--epochs", "12", "--hidden-size", "32", "--word-dim", "32", "--batch-size", "8",
    "--lr", "0.002", "--lr-decay", "0", "--threads", "1", "--seed", "1",
]  # fmt: skip


Result = subprocess.CompletedProcess[str]


def run(*args: object) -> int:
    """Run `rnntag ARGS` in this process and return its exit code; its output is left for
    pytest's `capsys` to read. Milliseconds instead of the seconds a process takes."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_captured(*args: object) -> Result:
    """Run `rnntag ARGS` in this process, as `run` does, and return what it wrote with its
    exit code, as `rnntag` does for a process; for fixtures, which cannot use `capsys`."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run(*args)
    return subprocess.CompletedProcess([str(a) for a in args], code, out.getvalue(), err.getvalue())


def rnntag(*args: object, stdin: str | None = None) -> Result:
    """Run `python -m rnntag ARGS` as a user does, and capture its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "rnntag", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def run_together(*commands: Callable[[], Result]) -> list[Result]:
    """Run independent `rnntag` processes at the same time; results in the order given."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda command: command(), commands))


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


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny IOB2 NER model and a tiny UPOS model, trained once on the samples (in this
    process: seconds) for the tests that only need *a* model of each kind."""
    root = tmp_path_factory.mktemp("models")
    paths = {"ner": root / "ner", "pos": root / "pos"}
    for name, data in (("ner", "ner-{}.conll"), ("pos", "pos-{}.conllu")):
        train, dev = DATA / data.format("train"), DATA / data.format("dev")
        assert run("train", train, "--dev", dev, "-o", paths[name], *TINY_TRAINING) == 0
    return paths
