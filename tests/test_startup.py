"""Start-up of `rnntag tag`: it imports only what its input, output and models need, and
holds off garbage collection while torch is imported. These tests check what happens, not how
long it takes."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from rnntag import process

# Runs the command line, then lists every module the process loaded, one per line.
SCRIPT = """
import atexit, sys
from pathlib import Path
listing = Path(sys.argv.pop(1))
atexit.register(lambda: listing.write_text("\\n".join(sorted(sys.modules))))
from rnntag.cli import main
main()
"""
# Packages that tagging with the shipped models does not use.
UNUSED = {"conllu", "matplotlib", "rich", "seqeval", "sklearn", "tokenizers"}


def loaded_modules(tmp_path: Path, args: list[str], stdin: str, start: str = "Hello\t") -> set[str]:
    """The top-level packages a `python -m rnntag ARGS` process imported; its output must begin
    with `start`."""
    listing = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(listing), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(start)
    return {name.split(".")[0] for name in listing.read_text().splitlines()}


@pytest.mark.parametrize(
    ("args", "stdin", "needed"),
    [
        pytest.param(["tag", "--input", "tokens"], "Hello world .\n", {"torch"}, id="tokens"),
        # Plain text needs the sentence splitter and tokeniser, and nothing else more.
        pytest.param(["tag"], "Hello world.\n", {"torch", "syntok"}, id="text"),
        # With workers, they tag; this process only reads and writes.
        pytest.param(
            ["tag", "--input", "tokens", "--workers", "2"], "Hello world .\n", set(), id="workers"
        ),
    ],
)
def test_tagging_imports_only_what_it_uses(tmp_path, args, stdin, needed):
    modules = loaded_modules(tmp_path, args, stdin)

    assert "rnntag" in modules
    assert needed <= modules
    unexpected = ((UNUSED | {"syntok", "torch"}) - needed) & modules
    assert unexpected == set()


def test_pretty_output_with_workers_leaves_torch_to_them(tmp_path):
    args = ["tag", "--input", "tokens", "--workers", "2", "--output", "pretty"]
    modules = loaded_modules(tmp_path, args, "Hello world .\n", start="entities: ")

    assert "rich" in modules
    assert "torch" not in modules


def test_collection_is_held_only_while_long_lived_objects_are_made():
    frozen = gc.get_freeze_count()
    try:
        with process.long_lived():
            assert not gc.isenabled()
            kept = [[i] for i in range(10)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.unfreeze()


def test_collection_resumes_when_start_up_fails():
    with pytest.raises(ImportError), process.long_lived():
        raise ImportError("no such module")

    assert gc.isenabled()
