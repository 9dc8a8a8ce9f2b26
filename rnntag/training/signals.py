"""Stopping a training cleanly on Ctrl-C or SIGTERM, and the error that says it stopped."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from rnntag.errors import RnntagError


class StopOnSignal:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM asks training to stop after the
    current batch (`requested` turns true, and `on_first` is called); a second one interrupts
    at once."""

    def __init__(self, on_first: Callable[[], None] = lambda: None) -> None:
        self.on_first = on_first
        self.stop = False
        self.previous: dict[int, Any] = {}

    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.stop

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        self.on_first()

    def __enter__(self) -> StopOnSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


class TrainingInterrupted(RnntagError):
    """Training stopped on request after a batch; a checkpoint was saved."""
