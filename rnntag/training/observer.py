"""What a training tells whoever watches it: `TrainObserver`'s calls, and an `EpochResult`
per epoch. Plain Python, without torch, so that what shows progress need not load it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EpochResult:
    """What one epoch did."""

    epoch: int
    loss: float  # mean training loss per sentence
    dev_metric: str
    dev_score: float | None
    improved: bool
    seconds: float
    tokens_per_second: float
    lr: float
    # A document-memory model's two dev scores, whose mean is `dev_score`: with the dev
    # file's documents ("documents") and with each sentence its own document ("sentences").
    dev_situations: dict[str, float] | None = None


class TrainObserver:
    """Receives progress; the CLI shows it, the library itself stays silent."""

    def on_data(self, train_sentences: int, dev_sentences: int, device: str) -> None:
        """The data is read; training on `device` (cpu or cuda) comes next."""

    def on_start(self, epochs: int, batches_per_epoch: int) -> None:
        """Training is about to start."""

    def on_choice(self, text: str) -> None:
        """A setting the caller left open was chosen from the data, as `text` says."""

    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None:
        """A batch of `tokens` tokens finished with mean loss `loss`."""

    def on_epoch(self, result: EpochResult) -> None:
        """An epoch and its dev evaluation finished."""

    def on_warning(self, message: str) -> None:
        """Something about the data the user should know; training goes on."""
