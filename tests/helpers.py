"""Helpers shared by several test modules."""

from __future__ import annotations

from rnntag.cli import main


def run(*args: object) -> int:
    """Run the CLI in this process and return its exit code."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
