"""Tagging with several worker processes, each loading the models once, with the output
in input order and a bounded number of chunks in flight. Plain text travels as raw blocks of
paragraphs, so that the workers split it into sentences too. A worker that dies (killed by
the out-of-memory killer, say) ends the run with an error instead of a wait forever: the
pool is `concurrent.futures`' process pool, which notices.

Where the platform has it (Linux, macOS), the workers are forks of a server process that has
imported torch and the model code once: they start in a fraction of a second each and share
those pages, and this process, which only reads and writes, never imports torch."""

from __future__ import annotations

import atexit
import gc
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from rnntag.errors import RnntagError
from rnntag.io.plaintext import TextBlock
from rnntag.io.sentence import InputSentence
from rnntag.model.directory import read_info, resolve_model
from rnntag.tagging.tagged import Prediction

if TYPE_CHECKING:
    from rnntag.tagging.tagger import Tagger

# What the server that forks the workers imports before it forks any (see `_context`).
WORKER_MODULES = ["rnntag.tagging.tagger"]

# Sentences as (tokens, document), or a block of text; scores; nbest.
Job = tuple[list[tuple[list[str], int | None]] | TextBlock, bool, int]
_worker_taggers: list[Tagger] = []  # this worker process's models, loaded once


def tag_chunk(
    taggers: Sequence[Tagger],
    sentences: list[InputSentence],
    scores: bool = False,
    nbest: int = 1,
    stages: dict[str, float] | None = None,
    together: Executor | None = None,
) -> tuple[list[InputSentence], list[list[Prediction]]]:
    """Each model's predictions for a chunk of sentences as read (see
    `Tagger.predict_read`), and the sentences they stand on: a model tagging alone gives its
    own tokens (`Tagger.as_seen`), several models the tokens as read. With `together` (a
    thread pool), several models tag at once, each in a thread of its own: torch lets go of
    the interpreter lock in the networks, so each gets a core."""
    if len(taggers) == 1:
        (tagger,) = taggers
        seen = [tagger.as_seen(s) for s in sentences]
        return seen, [tagger.predict_seen(seen, scores, nbest, stages)]
    if together is None:
        return sentences, [t.predict_read(sentences, scores, nbest, stages) for t in taggers]
    running = [together.submit(t.predict_read, sentences, scores, nbest) for t in taggers]
    return sentences, [future.result() for future in running]


def _start_worker(models: list[str], output_scheme: str | None) -> None:
    # Imported in the worker only: the parent imports this module too, and stays without torch.
    import torch

    from rnntag.tagging.tagger import Tagger

    # Workers share the cores: one thread each avoids oversubscription.
    torch.set_num_threads(1)
    # The pool's shutdown waits for the worker to exit: spare it the last garbage collection
    # over torch's objects (as `rnntag.process.exit_without_collecting` does for the command).
    atexit.register(gc.freeze)
    _worker_taggers.extend(Tagger.load(m, torch.device("cpu"), output_scheme) for m in models)


def _spans() -> list[bool]:
    return [tagger.spans for tagger in _worker_taggers]


def _work(job: Job) -> tuple[list[InputSentence] | None, list[list[Prediction]]]:
    source, scores, nbest = job
    if isinstance(source, TextBlock):
        return tag_chunk(_worker_taggers, source.sentences(), scores, nbest)
    # The parent kept the sentences; only their tokens (and documents) came, and predictions
    # travel back.
    read = [InputSentence(tokens, document=document) for tokens, document in source]
    return None, tag_chunk(_worker_taggers, read, scores, nbest)[1]


class WorkerPool:
    """`workers` processes that each load `models` once; use it as a context manager.

    Args:
        models: Model names or directories.
        output_scheme: As for `Tagger`.
        workers: Number of processes.
    """

    def __init__(self, models: list[str], output_scheme: str | None, workers: int):
        # A model that cannot load fails here, with its message, not in a worker.
        self.infos = [read_info(resolve_model(model)) for model in models]
        """Each model's configuration (its weights stay in the workers)."""
        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, _context(), _start_worker, (models, output_scheme))
        self.spans: list[bool] = _result(self.pool.submit(_spans))
        """Whether each model tags spans (entities)."""

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        # Chunks not yet started are of no use once the output has stopped; those running
        # (at most two per worker, of a second or so each) are waited for.
        self.pool.shutdown(wait=True, cancel_futures=True)

    def tag(
        self,
        chunks: Iterable[list[InputSentence] | TextBlock],
        scores: bool = False,
        nbest: int = 1,
        pending: Callable[[], bool] = lambda: True,
    ) -> Iterator[tuple[list[InputSentence], list[list[Prediction]]]]:
        """Tag chunks of sentences, or blocks of plain text, in the workers.

        At most two chunks per worker are in flight, so memory stays bounded; when `pending`
        says no more input is ready, everything in flight is given out before reading on.

        Args:
            chunks: The input, as chunks of sentences or blocks of plain text.
            scores: Compute probabilities too.
            nbest: Number of best sequences.
            pending: Whether more input is ready now.

        Returns:
            An iterator over (sentences, each model's predictions for them), in input order.
        """
        in_flight: deque[tuple[list[InputSentence] | TextBlock, Future[Any]]] = deque()

        def done() -> tuple[list[InputSentence], list[list[Prediction]]]:
            source, result = in_flight.popleft()
            sentences, predicted = _result(result)
            if sentences is None:
                assert not isinstance(source, TextBlock)
                sentences = source
            return sentences, predicted

        for chunk in chunks:
            job: Job = (
                chunk if isinstance(chunk, TextBlock) else [(s.tokens, s.document) for s in chunk],
                scores,
                nbest,
            )
            in_flight.append((chunk, _submit(self.pool, job)))
            while in_flight and (len(in_flight) >= 2 * self.workers or not pending()):
                yield done()
        while in_flight:
            yield done()


def _context() -> multiprocessing.context.BaseContext:
    """Forked from a server that has imported `WORKER_MODULES` where the platform can; else
    each worker a fresh interpreter (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return context


def _submit(pool: ProcessPoolExecutor, job: Job) -> Future[Any]:
    """Hand a job to the workers; an error if one has died (the pool then takes no more)."""
    try:
        return pool.submit(_work, job)
    except BrokenProcessPool:
        raise _died() from None


def _result(future: Future[Any]) -> Any:
    """The result of a worker's job, or an error if a worker died on the way."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise _died() from None


def _died() -> RnntagError:
    return RnntagError(
        "a tagging worker process died (killed, or out of memory?); output stops at the"
        " last complete chunk"
    )
