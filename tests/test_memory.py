"""Returning freed memory to the system."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import run

import rnntag
from rnntag.model.memory import KERNEL_CACHE_SIZE, release_free_memory


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
    run("info", "ner", "--json")  # any command: the command line sets it for its process
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == expected


def test_the_library_leaves_the_process_settings_alone(monkeypatch, tmp_path):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    rnntag.load("ner", device="cpu").tag("Ada Lovelace was born in London.")
    train = tmp_path / "train.conll"
    train.write_text("Ada\tB-PER\nsaw\tO\nLondon\tB-LOC\n\n", encoding="utf-8")
    rnntag.train(str(train), str(tmp_path / "m"), epochs=1, hidden_size=8, threads=1)
    assert "ONEDNN_PRIMITIVE_CACHE_CAPACITY" not in os.environ
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads


# Run in a process whose address space is capped at 1 GB: each case must end in a result or
# a one-line error, never a MemoryError or the kernel's out-of-memory killer.
BOUNDED_DRIVER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from rnntag.cli import main
codes = {}
for name, args in json.loads(sys.argv[1]).items():
    try:
        main(args)
        codes[name] = 0
    except SystemExit as exc:
        codes[name] = exc.code
    except MemoryError:
        codes[name] = "MemoryError"
print(json.dumps(codes))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux's RLIMIT_AS")
def test_inputs_that_ask_for_huge_sizes_stay_under_one_gigabyte(tmp_path):
    import json
    import random
    import shutil
    import subprocess
    import sys

    from conftest import DATA

    gold, pred = tmp_path / "gold.conll", tmp_path / "pred.conll"
    rng = random.Random(0)
    with gold.open("w") as g, pred.open("w") as p:
        for _ in range(1000):
            for word in range(10):
                tag = f"T{rng.randrange(2000)}"
                g.write(f"w{word}\t{tag}\n")
                p.write(f"w{word}\t{tag if rng.random() < 0.7 else 'T0'}\n")
            g.write("\n")
            p.write("\n")
    vectors = tmp_path / "v.bin"
    vectors.write_bytes(b"1 100000000000\nab ")
    labels = tmp_path / "labels"
    shutil.copytree(DATA.parent / "models" / "en-pos-ewt", labels)
    config = json.loads((labels / "config.json").read_text(encoding="utf-8"))
    config["labels"] = [f"L{i}" for i in range(20_000)]
    (labels / "config.json").write_text(json.dumps(config), encoding="utf-8")
    zero = tmp_path / "zero"
    shutil.copytree(DATA.parent / "models" / "en-pos-ewt", zero)
    (zero / "config.json").unlink()
    (zero / "config.json").symlink_to("/dev/zero")
    text = str(DATA / "sentences.txt")
    cases = {
        "html-of-2000-tags": ["eval", "--gold", str(gold), "--pred", str(pred),
                              "--html", str(tmp_path / "page.html")],
        "word2vec-header": ["train", str(DATA / "ner-train.conll"), "-o", str(tmp_path / "m"),
                            "--embeddings", str(vectors)],
        "20000-labels": ["tag", "-m", str(labels), text],
        "config-of-dev-zero": ["tag", "-m", str(zero), text],
        "nbest-10000000": ["tag", "-m", "ner", "--output", "jsonl", "--nbest", "10000000", text],
    }  # fmt: skip

    result = subprocess.run(
        [sys.executable, "-c", BOUNDED_DRIVER, json.dumps(cases)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    codes = json.loads(result.stdout.splitlines()[-1])
    assert codes == {
        "html-of-2000-tags": 0, "word2vec-header": 1, "20000-labels": 1,
        "config-of-dev-zero": 1, "nbest-10000000": 2,
    }, result.stderr  # fmt: skip
    assert (tmp_path / "page.html").stat().st_size < 1 << 20
