"""No command writes its output over what it reads: an input file, or any file of a model
directory, named directly or through a link."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DATA, TINY_TRAINING, run


@pytest.fixture
def model(tiny_models, tmp_path) -> Path:
    """A copy of the tiny NER model, which the commands below may try to destroy."""
    return Path(shutil.copytree(tiny_models["ner"], tmp_path / "m"))


def _snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {
        p: p.read_bytes()
        for root in paths
        for p in ([root] if root.is_file() else sorted(root.rglob("*")))
        if p.is_file()
    }


def _link(target: Path, tmp_path: Path) -> Path:
    link = tmp_path / f"link-to-{target.name}"
    link.symlink_to(target)
    return link


CASES = {
    "export over the weights": lambda m, g, t: (["export", m, "--onnx", m / "model.safetensors"]),
    "export into the model folder": lambda m, g, t: (["export", m, "--onnx", m / "new.onnx"]),
    "export through a link": lambda m, g, t: (["export", m, "--onnx", _link(m / "config.json", t)]),
    "html over the gold file": lambda m, g, t: (["eval", "-m", m, g, "--html", g]),
    "html over a link to the gold file": lambda m, g, t: (
        ["eval", "-m", m, g, "--html", _link(g, t)]
    ),
    "html over the config": lambda m, g, t: (["eval", "-m", m, g, "--html", m / "config.json"]),
    "html over the predictions": lambda m, g, t: (["eval", "--gold", g, "--pred", g, "--html", g]),
    "plot into the model": lambda m, g, t: (["plot", m, "-o", m / "curve.png"]),
    "train over the parent": lambda m, g, t: (
        ["train", g, "-o", m, "--init-from", str(m), "--force", "--epochs", "1"]
    ),
    "train over a link to the parent": lambda m, g, t: (
        ["train", g, "-o", _link(m, t), "--init-from", str(m), "--force", "--epochs", "1"]
    ),
    "train over its data": lambda m, g, t: (["train", g, "-o", g, "--force", *TINY_TRAINING]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_output_that_would_replace_an_input_is_refused(model, tmp_path, capsys, case):
    gold = Path(shutil.copy(DATA / "ner-dev.conll", tmp_path / "gold.conll"))
    before = _snapshot([model, gold])
    assert run(*CASES[case](model, gold, tmp_path)) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert _snapshot([model, gold]) == before
