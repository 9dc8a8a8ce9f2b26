"""What `rnntag tag` imports: only what its input, output and models need, so that start-up
stays short. These tests check which modules are loaded, not how long anything takes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def loaded_modules(tmp_path: Path, args: list[str], stdin: str) -> set[str]:
    """The top-level packages a `python -m rnntag ARGS` process imported."""
    listing = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(listing), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello\t")
    return {name.split(".")[0] for name in listing.read_text().splitlines()}


@pytest.mark.parametrize(
    ("args", "stdin", "needed"),
    [
        pytest.param(["tag", "--input", "tokens"], "Hello world .\n", set(), id="tokens"),
        # Plain text needs the sentence splitter and tokeniser, and nothing else more.
        pytest.param(["tag"], "Hello world.\n", {"syntok"}, id="text"),
    ],
)
def test_tagging_imports_only_what_it_uses(tmp_path, args, stdin, needed):
    modules = loaded_modules(tmp_path, args, stdin)

    assert {"torch", "rnntag"} <= modules
    assert needed <= modules
    unexpected = ((UNUSED | {"syntok"}) - needed) & modules
    assert unexpected == set()
