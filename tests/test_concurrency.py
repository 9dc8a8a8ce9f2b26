"""Several models tagging each chunk at once in one process, a thread each: only where the
cores allow it, and never changing what is output or its order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from conftest import DATA

from rnntag.io.formats import ReadOptions
from rnntag.tagging.run import Tagging


@pytest.fixture
def one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize(
    ("cores", "threads", "together"), [(1, 1, False), (2, 1, True), (2, 2, False)]
)
def test_models_tag_together_only_where_the_cores_allow(
    monkeypatch, one_thread, tiny_models, cores, threads, together
):
    monkeypatch.setattr("rnntag.model.device.usable_cores", lambda: cores)
    torch.set_num_threads(threads)
    with Tagging([str(tiny_models["ner"]), str(tiny_models["pos"])], None) as tagging:
        assert (tagging.together is not None) == together
    with Tagging([str(tiny_models["ner"])], None) as tagging:
        assert tagging.together is None


@pytest.mark.parametrize(
    "name", ["sentences.txt", "ner-dev.conll", "pos-dev.conllu", "tricky.conll"]
)
def test_models_together_tag_as_one_after_the_other(monkeypatch, one_thread, tiny_models, name):
    models = [str(tiny_models["ner"]), str(tiny_models["pos"])]
    outputs = []
    for cores in (2, 1):
        monkeypatch.setattr("rnntag.model.device.usable_cores", lambda cores=cores: cores)
        with Tagging(models, None) as tagging:
            assert (tagging.together is not None) == (cores == 2)
            outputs.append(list(tagging.tag_file(str(DATA / name), ReadOptions())))

    assert outputs[0] == outputs[1]
