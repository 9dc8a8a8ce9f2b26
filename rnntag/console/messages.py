"""What the command line says besides its results: a line at a time on standard error.

rich is imported on the first message: tagging says nothing unless asked to or something
goes wrong, and its import would add to every start-up."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def messages() -> Console:
    """The console for messages on standard error, made on first use."""
    from rich.console import Console

    return Console(stderr=True)


def say(message: str) -> None:
    """One line on standard error, as written (no markup, no wrapping)."""
    messages().print(message, highlight=False, markup=False, soft_wrap=True)
