"""Work done at once in one process: input read ahead in a thread while the networks tag,
and several models tagging a chunk each in a thread of their own. Neither may change what
is output, nor its order, nor where an error stops it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import torch
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from rnntag.io.chunks import read_ahead
from rnntag.io.formats import ReadOptions
from rnntag.tagging.run import Tagging


class Broken(Exception):
    pass


def _made(items: list[int], fail_at: int | None) -> Iterator[int]:
    for position, item in enumerate(items):
        if position == fail_at:
            raise Broken(position)
        yield item


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.integers(), max_size=12),
    fail_at=st.none() | st.integers(0, 12),
    ahead=st.integers(1, 3),
)
def test_read_ahead_gives_every_item_in_order_then_the_error(items, fail_at, ahead):
    taken = []
    failing = fail_at is not None and fail_at < len(items)
    if failing:
        with pytest.raises(Broken):
            taken.extend(read_ahead(_made(items, fail_at), ahead))
    else:
        taken.extend(read_ahead(_made(items, fail_at), ahead))

    assert taken == (items[:fail_at] if failing else items)


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rnntag-read-ahead"]


def test_a_reader_stops_when_its_items_are_no_longer_wanted():
    before = len(_readers())
    items = read_ahead(iter(range(1_000_000)))
    assert next(items) == 0
    items.close()

    deadline = time.monotonic() + 5
    while len(_readers()) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_readers()) == before


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
