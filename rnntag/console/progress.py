"""Training on the terminal: a progress bar over each epoch's batches, a line per epoch,
and the line `rnntag train` ends with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rnntag.console.results import percent
from rnntag.training.observer import EpochResult, TrainObserver


class ProgressReporter(TrainObserver):
    """Shows a progress bar over an epoch's batches (on a terminal) and one line per epoch.

    Args:
        console: Where to draw; by default standard error.
    """

    def __init__(self, console: Console | None = None):
        self.console = Console(stderr=True) if console is None else console
        self.epochs = 0
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TextColumn("{task.fields[speed]:,.0f} tok/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )
        self.task = self.progress.add_task("train", total=0, epoch=0, loss=0.0, speed=0.0)
        self.tokens = 0

    def on_choice(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def on_data(self, train_sentences: int, dev_sentences: int, device: str) -> None:
        dev = f", dev {dev_sentences} sentences" if dev_sentences else ""
        self.console.print(
            f"training on {train_sentences} sentences{dev}, device {device}", highlight=False
        )

    def on_warning(self, message: str) -> None:
        self.console.print(
            f"rnntag: warning: {message}", highlight=False, markup=False, soft_wrap=True
        )

    def on_start(self, epochs: int, batches_per_epoch: int) -> None:
        self.epochs = epochs
        self.progress.update(self.task, total=batches_per_epoch)
        self.progress.start()

    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None:
        if batch == 1:
            self.tokens = 0
            self.progress.reset(self.task)
        self.tokens += tokens
        elapsed = self.progress.tasks[0].elapsed or 0.0
        self.progress.update(
            self.task,
            completed=batch,
            epoch=f"{epoch}/{self.epochs}",
            loss=loss,
            speed=self.tokens / elapsed if elapsed > 0 else 0.0,
        )

    def on_epoch(self, result: EpochResult) -> None:
        dev = (
            ""
            if result.dev_score is None
            else f"  dev {result.dev_metric} {percent(result.dev_score)}"
        )
        if result.dev_situations:
            dev += (
                " ("
                + ", ".join(
                    f"{name} {percent(score)}" for name, score in result.dev_situations.items()
                )
                + ")"
            )
        best = "  [bold green]best, saved[/]" if result.improved else ""
        self.console.print(
            f"epoch {result.epoch}/{self.epochs}  loss {result.loss:.3f}{dev}{best}"
            f"  {result.seconds:.1f} s  {result.tokens_per_second:,.0f} tok/s",
            highlight=False,
        )

    def close(self) -> None:
        """Remove the progress bar."""
        self.progress.stop()


def print_trained(console: Console, results: dict[str, Any], out: Path) -> None:
    """The line `rnntag train` ends with: the best dev score, and where the model is."""
    score = results.get("dev_score")
    best = (
        f"best dev {results['dev_metric']} {100 * score:.2f} at epoch {results['best_epoch']}; "
        if score is not None
        else ""
    )
    console.print(f"{best}model saved to {out}", highlight=False)
