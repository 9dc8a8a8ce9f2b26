"""The training loop: epochs of a `Trainer` made from a finished `Recipe`, early stopping on
the dev score, and the best model on dev (the last one without dev) left in the model
directory with its results.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from rnntag.io.sentence import InputSentence
from rnntag.model.config import ModelInfo
from rnntag.model.directory import save_config
from rnntag.model.memory import release_free_memory
from rnntag.training.checkpoint import remove_checkpoint
from rnntag.training.distributed import Cluster
from rnntag.training.observer import TrainObserver
from rnntag.training.recipe import Recipe
from rnntag.training.trainer import Trainer


def train(
    recipe: Recipe,
    dev_data: Sequence[InputSentence] | None,
    out: Path,
    cluster: Cluster,
    observer: TrainObserver | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ModelInfo:
    """Train the tagger of `recipe` and save the best model on dev (the last one without
    dev) to `out`.

    A checkpoint in `out/checkpoint` is written after every epoch, and after the current
    batch when `should_stop()` turns true (then `TrainingInterrupted` is raised); a recipe
    resolved with that checkpoint continues from it. On the CPU a resumed run ends exactly as
    an uninterrupted one.

    Args:
        recipe: What to train, decided and checked (see `rnntag.training.recipe.resolve`).
        dev_data: Tagged development sentences for model selection and early stopping.
        out: Model directory.
        cluster: The training processes (see `rnntag.training.distributed.joined`), and the
            device.
        observer: Progress receiver, on rank 0.
        should_stop: Polled after every batch.

    Returns:
        The saved model's configuration, with its results.
    """
    # `threads` and the seeded random generators hold for this training only: a caller's
    # own setting and random state come back after it.
    threads = torch.get_num_threads()
    devices = [cluster.device] if cluster.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            return _train(
                recipe, list(dev_data or []), out, cluster,
                observer if cluster.main and observer is not None else TrainObserver(),
                should_stop,
            )  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def _train(
    recipe: Recipe,
    dev: list[InputSentence],
    out: Path,
    cluster: Cluster,
    observer: TrainObserver,
    should_stop: Callable[[], bool],
) -> ModelInfo:
    trainer = Trainer(recipe, out, cluster)
    release_free_memory()  # the pretrained file's reading, now done
    loop, config = trainer.loop, trainer.config
    started = time.perf_counter() - loop.seconds
    for choice in recipe.choices:
        observer.on_choice(choice)
    # Batches of training items: sentences, or windows of the long ones.
    observer.on_start(config.epochs, math.ceil(len(trainer.lengths) / config.batch_size))
    while loop.epoch <= config.epochs and loop.stale < config.patience:
        result = trainer.epoch(dev, observer, should_stop, started)
        trainer.record(result, len(recipe.tokens), len(dev))
        observer.on_epoch(result)
        # Rank 0 alone sees the dev score: its count of stale epochs decides for all.
        loop.stale = cluster.share_int(loop.stale)
        loop.epoch, loop.batch = loop.epoch + 1, 0
        loop.seconds = time.perf_counter() - started
        if cluster.main and loop.epoch <= config.epochs and loop.stale < config.patience:
            trainer.save()
    trainer.info.results.update(
        epochs_run=len(loop.history),
        seconds=round(time.perf_counter() - started, 1),
        device=cluster.device.type,
    )
    if cluster.main:
        save_config(out, trainer.info)
        remove_checkpoint(out)
    return trainer.info
