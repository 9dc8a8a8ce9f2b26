"""Tagging whole inputs: files or standard input in any input format, with one model or
several, in this process or in worker processes; each chunk of sentences comes back with
every model's columns, in input order."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnntag.errors import UsageError
from rnntag.io.chunks import read_chunks
from rnntag.io.formats import ReadOptions
from rnntag.io.plaintext import text_blocks
from rnntag.io.schemes import split_tag
from rnntag.io.sentence import InputSentence
from rnntag.io.source import open_text
from rnntag.tagging.render import Column
from rnntag.tagging.tagged import check_nbest
from rnntag.tagging.workers import WorkerPool, tag_chunk

if TYPE_CHECKING:
    from rnntag.tagging.tagger import Tagger

_MISC_UNSAFE = re.compile(r"[|=\s]+")


def column_names(models: list[str]) -> list[str]:
    """The name each model's tags go under (a jsonl key, a CoNLL-U MISC key): the last part
    of its name or folder, with characters that MISC cannot hold (`|`, `=`, spaces) as `_`.

    Raises:
        UsageError: Two models would share a name.
    """
    names = [
        _MISC_UNSAFE.sub("_", Path(m).name or Path(m).resolve().name) or "model" for m in models
    ]
    for name in names:
        same = [m for m, other in zip(models, names, strict=True) if other == name]
        if len(same) > 1:
            raise UsageError(
                f"models {' and '.join(same)} would both write their tags as {name!r};"
                " give their folders different names"
            )
    return names


class Tagging:
    """Models loaded once for many inputs; use it as a context manager.

    Args:
        models: Model names or directories; each one's column is named by the last part.
        output_scheme: As for `Tagger`.
        device: Where the networks run (with one worker): auto, cpu or cuda.
        workers: Processes that tag; with more than one, this process only reads and writes.
    """

    def __init__(
        self, models: list[str], output_scheme: str | None, device: str = "auto", workers: int = 1
    ):
        cores = os.cpu_count() or 1
        if not 1 <= workers <= cores:
            raise UsageError(f"--workers must be in 1..{cores}, the cores of this machine")
        self.labels = column_names(models)
        self.workers = workers
        self._stack = contextlib.ExitStack()
        self.together: ThreadPoolExecutor | None = None
        if workers > 1:
            self.pool = self._stack.enter_context(WorkerPool(models, output_scheme, workers))
            self.spans = self.pool.spans
            infos = self.pool.infos
        else:
            # Imported here, so that with workers this process (which only reads and writes)
            # starts without torch: two seconds sooner.
            from rnntag.model.device import resolve_device
            from rnntag.tagging.tagger import Tagger

            torch_device = resolve_device(device)
            self.taggers: list[Tagger] = [
                Tagger.load(m, torch_device, output_scheme) for m in models
            ]
            self.spans = [t.spans for t in self.taggers]
            infos = [t.info for t in self.taggers]
            self.together = self._threads_for_models(torch_device.type)
        self.abbreviations = frozenset(a for info in infos for a in info.abbreviations)
        """Where plain text's sentences do not end, for these models (see `read_text`)."""
        self.entity_types = sorted(
            {split_tag(label)[1] for info in infos if info.scheme for label in info.vocab.labels}
            - {""}
        )
        """The entity types of the span models, in alphabetical order."""

    def _threads_for_models(self, device_type: str) -> ThreadPoolExecutor | None:
        """A thread per model, so that several models tag each chunk at once, where the
        cores allow it: each model's network runs on torch's threads, and together they
        must not ask for more cores than this process may use."""
        import torch

        from rnntag.model.device import usable_cores

        models = len(self.taggers)
        if models == 1 or device_type != "cpu" or torch.get_num_threads() * models > usable_cores():
            return None
        return self._stack.enter_context(ThreadPoolExecutor(models, "rnntag-model"))

    def __enter__(self) -> Tagging:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def tag_file(
        self,
        path: str,
        read: ReadOptions,
        scores: bool = False,
        nbest: int = 1,
        stages: dict[str, float] | None = None,
    ) -> Iterator[tuple[list[InputSentence], list[list[Column]]]]:
        """Tag a file (or `rnntag.io.source.STDIN`) chunk by chunk.

        Args:
            path: The input.
            read: Its format, by default from its suffix (`guess_format`), else plain text;
                and its encoding. Tags in it are not read.
            scores: Compute probabilities too.
            nbest: Number of best sequences.
            stages: Seconds per stage of the networks' work, added to as by
                `Tagger.predict` (in this process only, with one worker).

        Returns:
            An iterator over (sentences, each sentence's columns, one per model).
        """
        check_nbest(nbest)  # before any worker is sent anything
        fmt = read.format_of(path, "text")
        with open_text(path, read.encoding) as stream:
            tagged: Any
            if self.workers > 1:
                # Plain text goes out raw, so that the workers split it too.
                pieces: Any = (
                    text_blocks(stream, path, abbreviations=self.abbreviations)
                    if fmt == "text"
                    else read_chunks(stream, path, fmt)
                )
                tagged = self.pool.tag(pieces, scores, nbest, stream.pending)
            else:
                # Per-stage seconds are counted one model after the other.
                together = None if stages is not None else self.together
                tagged = (
                    tag_chunk(self.taggers, chunk, scores, nbest, stages, together)
                    for chunk in read_chunks(stream, path, fmt, abbreviations=self.abbreviations)
                )
            for chunk, predicted in tagged:
                columns = [
                    [
                        Column(name, p[i], s)
                        for name, p, s in zip(self.labels, predicted, self.spans, strict=True)
                    ]
                    for i in range(len(chunk))
                ]
                yield chunk, columns
