"""One training's state and what it does with it (`Trainer`): optimisation steps on
mini-batches by length (or by document, with a document memory), with word dropout; the
dev evaluation; the best model on dev saved atomically; checkpoints.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, cast

import torch

from rnntag.errors import RnntagError
from rnntag.evaluation.metrics import dev_score
from rnntag.io.sentence import InputSentence
from rnntag.model.device import threads_for
from rnntag.model.directory import save_metrics
from rnntag.model.documents import document_batches
from rnntag.model.encode import UNK_INDEX, Encoder, length_batches
from rnntag.model.memory import release_free_memory
from rnntag.model.modelfile import first_not_finite, save_model
from rnntag.model.network import SequenceTagger
from rnntag.tagging.predict import predict
from rnntag.training.checkpoint import LoopState, save_checkpoint
from rnntag.training.distill import Targets
from rnntag.training.distributed import Cluster
from rnntag.training.observer import EpochResult, TrainObserver
from rnntag.training.optim import clip_grad_norm
from rnntag.training.parts import (
    Loss,
    make_optimizer,
    moving_average,
    new_network,
    singleton_mask,
    training_items,
)
from rnntag.training.recipe import Recipe
from rnntag.training.signals import TrainingInterrupted

# Batches between returns of freed memory to the system (see `rnntag.model.memory`): each costs
# page faults when the memory is used again, and a few hundred batches would let the process
# grow by over 100 MB.
RELEASE_EVERY = 50


class Trainer:
    """A training's network, optimiser and position, and the work on them: `step` on a
    batch, `epoch` over the batches and dev, `record` of an epoch's result (the model saved
    when it is the best so far), `save` of a checkpoint.

    Args:
        recipe: What to train, complete and checked.
        out: The model directory.
        cluster: The training processes: rank 0 alone evaluates and saves.
    """

    def __init__(self, recipe: Recipe, out: Path, cluster: Cluster):
        # The results are the training's own: the recipe stays as it was resolved.
        self.info = info = replace(recipe.info, results=dict(recipe.info.results))
        self.config = config = info.train
        self.out, self.cluster, self.device = out, cluster, cluster.device
        self.digest = recipe.digest
        start = recipe.start.take()
        self.loop = start.checkpoint.loop if start.checkpoint else LoopState()
        torch.set_num_threads(threads_for(config.threads))
        self.rng = random.Random(config.seed)
        # Each rank draws its own dropout masks; the batch order (rng) is common to all.
        torch.manual_seed(config.seed + cluster.rank)
        self.encoder = Encoder(info.vocab, info.model)
        self.model = new_network(info, start.vectors, start.parent, cluster)
        # Made first: it decides whether the word table's gradients are sparse, which
        # DistributedDataParallel must know when it wraps the model.
        self.optimizer = make_optimizer(self.model, config, self.device)
        # The model's loss, wrapped for several processes if need be.
        self.network = cluster.wrap(Loss(self.model, config.distill_weight))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda e: 1.0 / (1.0 + config.lr_decay * e)
        )
        self.average = moving_average(self.model, config.ema)
        if start.checkpoint is not None:
            start.checkpoint.restore(
                self.model, self.optimizer, self.scheduler, self.rng, self.average
            )
        self.encoded, self.lengths, self.documents = training_items(
            self.encoder, *_with_unlabelled(recipe), config.bptt
        )
        self.targets = None
        if recipe.distill is not None:
            lengths = [len(t) for t in recipe.tokens + recipe.distill.unlabelled]
            self.targets = Targets(recipe.distill, lengths, len(recipe.tokens), config.bptt)
        # (num_words,) True for the words seen once in training
        self.singletons = singleton_mask(len(self.encoder.words), self.encoded.words).to(
            self.device
        )

    def epoch(
        self,
        dev: list[InputSentence],
        observer: TrainObserver,
        should_stop: Callable[[], bool],
        started: float,
    ) -> EpochResult:
        """Train on the epoch's batches, from the first one not yet done, then evaluate.

        Args:
            dev: Development sentences; none to go by the loss alone.
            observer: Receives each batch's loss.
            should_stop: Polled after every batch; when it turns true on any rank, a
                checkpoint is saved and `TrainingInterrupted` raised.
            started: When the training started (earlier than now on resume), in
                `time.perf_counter` seconds.
        """
        loop = self.loop
        epoch_start, batches = self._train(observer, should_stop, started)
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        train_seconds = time.perf_counter() - epoch_start
        # What the epoch's batches left behind makes room for evaluating and saving.
        release_free_memory()
        metric, score, situations = self.evaluate(dev)
        return EpochResult(
            epoch=loop.epoch,
            loss=loop.loss_sum / sum(len(b) for b in batches),
            dev_metric=metric,
            dev_score=score,
            improved=score is None or loop.best_score is None or score > loop.best_score,
            seconds=time.perf_counter() - epoch_start,
            tokens_per_second=loop.token_sum / max(train_seconds, 1e-9),
            lr=lr,
            dev_situations=situations,
        )

    def _train(
        self, observer: TrainObserver, should_stop: Callable[[], bool], started: float
    ) -> tuple[float, list[list[int]]]:
        """The epoch's training steps.

        Returns:
            When the epoch started (earlier than now on resume), and its batches.
        """
        loop = self.loop
        if loop.batch == 0:
            loop.epoch_rng = list(_jsonable(self.rng.getstate()))
            loop.loss_sum, loop.token_sum, loop.epoch_seconds = 0.0, 0, 0.0
        self.model.train()
        epoch_start = time.perf_counter() - loop.epoch_seconds
        batches = self._batches()
        for number, indices in enumerate(batches, 1):
            if number <= loop.batch:
                continue
            batch_loss = self.step(indices, number)
            # Counted on the host: summing the mask would wait for the device.
            tokens = sum(self.lengths[i] for i in indices)
            loop.loss_sum += batch_loss * len(indices)
            loop.token_sum += tokens
            loop.batch = number
            observer.on_batch(loop.epoch, number, batch_loss, tokens)
            if number % RELEASE_EVERY == 0:
                release_free_memory()
            if self.cluster.any(should_stop()):
                self._interrupt(epoch_start, started)
        # A step that made a weight infinite shows in the next batch's loss, but the last
        # step of an epoch has no next batch before the model is saved.
        bad = first_not_finite(dict(self.model.named_parameters()))
        if bad is not None:
            raise _not_finite(
                f"weight {bad!r} is no longer finite after epoch {loop.epoch}", self.out
            )
        return epoch_start, batches

    def _batches(self) -> list[list[int]]:
        """This rank's share of the epoch's batches, drawn from the common batch order."""
        size = self.config.batch_size
        if self.info.model.doc_memory == "on":
            batches = list(document_batches(self.documents, size, self.rng))
        else:
            batches = list(length_batches(self.lengths, size, self.rng))
        return self.cluster.share_of(batches)

    def _interrupt(self, epoch_start: float, started: float) -> NoReturn:
        """Save a checkpoint where the training stands, and stop it."""
        loop = self.loop
        loop.epoch_seconds = time.perf_counter() - epoch_start
        loop.seconds = time.perf_counter() - started
        if self.cluster.main:
            self.save()
        raise TrainingInterrupted(
            f"training interrupted in epoch {loop.epoch} after batch {loop.batch}; the best"
            " model so far is saved; run the same command with --resume to go on",
            str(self.out),
        )

    def step(self, indices: list[int], number: int) -> float:
        """One optimisation step on the training items `indices`, the epoch's batch
        `number`; returns the batch's loss."""
        config, device = self.config, self.device
        batch = self.encoded.batch(indices, self._shown_alone(indices)).to(device)
        # (batch, seq_len): replace training singletons by <unk> so <unk> gets trained
        drop = self.singletons[batch.words] & (
            torch.rand(batch.words.shape, device=device) < config.unk_replace
        )
        batch.words = torch.where(drop, UNK_INDEX, batch.words)
        if self.targets is None:
            loss = self.network(batch)
        else:
            loss = self.network(batch, *self.targets.batch(indices, device))
        self.optimizer.zero_grad()
        loss.backward()
        if config.clip > 0:
            clip_grad_norm(self.model.parameters(), config.clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update_parameters(self.model)
        batch_loss = loss.item()
        if not math.isfinite(batch_loss):
            where = f"in epoch {self.loop.epoch}, batch {number}"
            raise _not_finite(f"the training loss became {batch_loss} {where}", self.out)
        return batch_loss

    def _shown_alone(self, indices: list[int]) -> list[bool] | None:
        """Memory dropout (`--doc-dropout`): for each sentence of the batch, whether its
        document is shown this step as sentences that are each a document of their own. The
        model then meets "no other mention known" in training as it does when a user tags
        one sentence, and learns to use the memory without leaning on it."""
        if not (self.info.model.doc_memory == "on" and self.config.doc_dropout > 0):
            return None
        documents = [self.documents[i] for i in indices]
        # torch's generator, seeded like the rest of the step's randomness
        draws = torch.rand(len(documents)).tolist()
        first = {document: draws[k] for k, document in reversed(list(enumerate(documents)))}
        return [first[document] < self.config.doc_dropout for document in documents]

    def evaluate(
        self, dev: list[InputSentence]
    ) -> tuple[str, float | None, dict[str, float] | None]:
        """The dev metric and score (on the main process only), or ("loss", None, None)
        without dev data. A document-memory model is scored with the dev file's documents
        and with each sentence alone, as users feed it; its score, which early stopping
        follows, is the mean of the two, which are returned too."""
        if not (dev and self.cluster.main):
            return "loss", None, None
        info = self.info
        scheme_out = info.data_scheme if info.data_scheme != info.scheme else None
        gold = [s.tags or [] for s in dev]
        tokens = [s.tokens for s in dev]
        situations = {"documents": [s.document for s in dev]}
        if info.model.doc_memory == "on":
            situations["sentences"] = [None] * len(dev)
        scores: dict[str, float] = {}
        for situation, documents in situations.items():
            tagged = predict(
                self.evaluated, self.encoder, tokens, scheme=scheme_out, documents=documents
            )
            metric, scores[situation] = dev_score(gold, [p.tags for p in tagged], info.data_scheme)
        if len(scores) == 1:
            return metric, scores["documents"], None
        return f"mean {metric}", sum(scores.values()) / 2, scores

    def record(self, result: EpochResult, train_sentences: int, dev_sentences: int) -> None:
        """Record the epoch, and save the model when it is the best so far."""
        loop = self.loop
        loop.history.append(vars(result).copy())
        if self.cluster.main:
            save_metrics(self.out, loop.history)
        if not result.improved:
            loop.stale += 1
            return
        loop.best_score, loop.stale = result.dev_score, 0
        self.info.results.update(
            best_epoch=loop.epoch,
            dev_metric=result.dev_metric,
            dev_score=result.dev_score,
            train_sentences=train_sentences,
            dev_sentences=dev_sentences,
        )
        if self.cluster.main:
            save_model(self.out, self.info, self.evaluated)

    @property
    def evaluated(self) -> SequenceTagger:
        """The weights that are evaluated and saved: their moving average with --ema."""
        return self.model if self.average is None else cast(SequenceTagger, self.average.module)

    def save(self) -> None:
        """Write a checkpoint of where the training stands (see `rnntag.training.checkpoint`)."""
        save_checkpoint(
            self.out, self.info, self.loop, self.model, self.optimizer, self.scheduler,
            self.digest, self.average,
        )  # fmt: skip


def _with_unlabelled(
    recipe: Recipe,
) -> tuple[list[list[str]], list[list[str]], list[int | None]]:
    """The training sentences, their tags and documents, followed by the unlabelled
    sentences of a distillation, tagged with the first label (the loss ignores it)."""
    if recipe.distill is None:
        return recipe.tokens, recipe.tags, recipe.documents
    unlabelled, label = recipe.distill.unlabelled, recipe.info.vocab.labels[0]
    return (
        recipe.tokens + unlabelled,
        recipe.tags + [[label] * len(s) for s in unlabelled],
        recipe.documents + recipe.distill.documents,
    )


def _not_finite(what: str, out: Path) -> RnntagError:
    """The error that stops a training whose loss or weights are no longer finite."""
    return RnntagError(
        f"{what}; nothing from this epoch was saved (check --lr, --lr-decay and the embeddings"
        " file)",
        str(out),
    )


def _jsonable(state: tuple[Any, ...]) -> list[Any]:
    """Python's RNG state as JSON lists."""
    version, internal, gauss = state
    return [version, list(internal), gauss]
