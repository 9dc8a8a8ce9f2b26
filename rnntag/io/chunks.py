"""Streaming input in chunks of sentences, so that memory stays bounded however long the
input, and a pipeline gets its output as soon as what was written so far is tagged."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from rnntag.io.formats import Format, ReadOptions, read_sentences
from rnntag.io.plaintext import text_blocks
from rnntag.io.sentence import InputSentence
from rnntag.io.source import TextSource

# Sentences read ahead and sorted by length at a time; bounds memory when streaming, and is
# large enough that most batches hold sentences of a single length.
CHUNK_SIZE = 8192


def chunks(
    sentences: Iterable[InputSentence],
    size: int = CHUNK_SIZE,
    pending: Callable[[], bool] = lambda: True,
) -> Iterator[list[InputSentence]]:
    """Consecutive lists of about `size` sentences, read lazily so memory stays bounded. A
    chunk ends between documents, so that a document memory sees each whole, unless a
    document runs past twice `size` sentences.

    Args:
        sentences: The input.
        size: Sentences after which a chunk ends at the next document's start.
        pending: Whether more input is ready now; when not, the chunk so far is given out
            at once rather than waiting for the writer to fill it.

    Returns:
        An iterator over chunks, in input order.
    """
    chunk: list[InputSentence] = []
    for sentence in sentences:
        if len(chunk) >= size and (
            len(chunk) >= 2 * size
            or sentence.document is None
            or sentence.document != chunk[-1].document
        ):
            yield chunk
            chunk = []
        chunk.append(sentence)
        if not pending():
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_chunks(
    stream: TextSource,
    path: str,
    fmt: Format,
    size: int = CHUNK_SIZE,
    abbreviations: frozenset[str] = frozenset(),
) -> Iterator[list[InputSentence]]:
    """Untagged input in chunks: of whole paragraphs for plain text (the same chunks that
    `text_blocks` cuts, so that tagging in worker processes batches exactly alike), of
    `size` sentences otherwise (see `chunks`).

    Args:
        stream: The open input.
        path: Its name, for error messages.
        fmt: Its format.
        size: Largest chunk of sentences, for formats other than plain text.
        abbreviations: For plain text, as for `read_text`.

    Returns:
        An iterator over chunks, in input order; a chunk of plain text may be empty.
    """
    if fmt == "text":
        blocks = text_blocks(stream, path, abbreviations=abbreviations)
        return (block.sentences() for block in blocks)
    untagged = ReadOptions(fmt, tag_column=None)
    return chunks(read_sentences(stream, path, untagged), size, stream.pending)
