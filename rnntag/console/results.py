"""The console that results go to, on standard output, and how scores are written on it."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def results_console(**settings: Any) -> Console:
    """A console for results on standard output. A reader that goes away raises
    `BrokenPipeError`, which the command line ends quietly, not rich's exit code 1."""

    def broken_pipe() -> None:
        raise BrokenPipeError

    console = Console(**settings)
    console.on_broken_pipe = broken_pipe  # type: ignore[method-assign]
    return console


def percent(value: float) -> str:
    """A score (a fraction) in points, with two decimals: `0.9123` is `91.23`."""
    return f"{100 * value:.2f}"
