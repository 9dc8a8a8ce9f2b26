"""Documents for a document memory: which tokens share a group, and batches of whole
documents. Plain Python, so that the ONNX runtime (`rnntag.exporting.runtime`) can use them
without torch."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Literal

# Where a document-memory model is scored: with the documents the input marks ("file") or
# with each sentence a document of its own ("sentence").
Documents = Literal["file", "sentence"]


def document_groups(
    sentences: Sequence[Sequence[str]], documents: Sequence[int | None] | None = None
) -> list[int]:
    """The group of every token, in reading order, for a document memory: a token with an
    upper-case letter (a name, most often) shares its group with the tokens of the same
    lower-cased form in the same document; any other token is alone in its group. A
    sentence with no document is a document of its own.

    Args:
        sentences: Tokens of each sentence.
        documents: Each sentence's document (see `InputSentence.document`); None for none.

    Returns:
        A group number per token: the position of the group's first token.
    """
    shared: dict[tuple[object, str], int] = {}
    numbers: list[int] = []
    for i, tokens in enumerate(sentences):
        document: object = documents[i] if documents is not None else None
        if document is None:
            document = ("sentence", i)
        for token in tokens:
            lowered = token.lower()
            if lowered == token:
                numbers.append(len(numbers))
            else:
                numbers.append(shared.setdefault((document, lowered), len(numbers)))
    return numbers


def document_batches(
    documents: Sequence[int | None], batch_size: int, rng: random.Random | None = None
) -> Iterator[list[int]]:
    """Group sentence indices into batches of whole documents (consecutive sentences of one
    document; see `document_groups`), so that a document memory sees every sentence of
    each: documents in input order without `rng`, shuffled with it. A document of more
    than `batch_size` sentences is cut into batches of consecutive sentences.

    Args:
        documents: Each sentence's document.
        batch_size: Most sentences per batch.
        rng: Random source for training order.

    Returns:
        An iterator over lists of sentence indices.
    """
    pieces: list[list[int]] = []
    for i, document in enumerate(documents):
        same = pieces and document is not None and documents[i - 1] == document
        if same and len(pieces[-1]) < batch_size:
            pieces[-1].append(i)
        else:
            pieces.append([i])
    if rng is not None:
        rng.shuffle(pieces)
    batch: list[int] = []
    for piece in pieces:
        if batch and len(batch) + len(piece) > batch_size:
            yield batch
            batch = []
        batch.extend(piece)
    if batch:
        yield batch
