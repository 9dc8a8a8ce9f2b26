"""Tagging with several worker processes, each loading the models once, with the output
in input order and a bounded number of chunks in flight."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch

from rnntag.corpus import Sentence
from rnntag.predict import Prediction, Tagger

Job = tuple[list[list[str]], bool, int]
_worker_taggers: list[Tagger] = []  # this worker process's models, loaded once


def tag_chunk(taggers: Sequence[Tagger], job: Job) -> list[list[Prediction]]:
    """Each model's predictions for a chunk of tokenised sentences."""
    tokens, scores, nbest = job
    return [tagger.predict(tokens, scores, nbest) for tagger in taggers]


def _start_worker(models: list[str], output_scheme: str | None) -> None:
    # Workers share the cores: one thread each avoids oversubscription.
    torch.set_num_threads(1)
    _worker_taggers.extend(Tagger.load(m, torch.device("cpu"), output_scheme) for m in models)


def _work(job: Job) -> list[list[Prediction]]:
    return tag_chunk(_worker_taggers, job)


def tag_in_parallel(
    chunks: Iterable[list[Sentence]],
    models: list[str],
    output_scheme: str | None,
    workers: int,
    scores: bool = False,
    nbest: int = 1,
    pending: Callable[[], bool] = lambda: True,
) -> Iterator[tuple[list[Sentence], list[list[Prediction]]]]:
    """Tag chunks in `workers` processes; results come back in input order.

    At most two chunks per worker are in flight, so memory stays bounded; when `pending`
    says no more input is ready, everything in flight is given out before reading on.

    Args:
        chunks: The input, in chunks of sentences.
        models: Model names or directories.
        output_scheme: As for `Tagger`.
        workers: Number of processes.
        scores: Compute probabilities too.
        nbest: Number of best sequences.
        pending: Whether more input is ready now.

    Returns:
        An iterator over (chunk, each model's predictions for it).
    """
    context = multiprocessing.get_context("spawn")
    in_flight: deque[tuple[list[Sentence], Any]] = deque()
    with context.Pool(workers, _start_worker, (models, output_scheme)) as pool:
        for chunk in chunks:
            job = ([s.tokens for s in chunk], scores, nbest)
            in_flight.append((chunk, pool.apply_async(_work, (job,))))
            while in_flight and (len(in_flight) >= 2 * workers or not pending()):
                done, result = in_flight.popleft()
                yield done, result.get()
        while in_flight:
            done, result = in_flight.popleft()
            yield done, result.get()
