"""Reading plain text: paragraphs split into sentences and tokens (`read_text`), and the
input cut into blocks of whole paragraphs that worker processes split alike (`text_blocks`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rnntag.io.sentence import InputSentence
from rnntag.io.source import numbered_lines

# Characters of plain text after which a block for the workers ends at the next paragraph end
# (about 1,000 sentences of English): small enough that they share the work evenly to the end.
BLOCK_SIZE = 1 << 16


def read_text(
    stream: Iterable[str],
    path: str,
    first_line: int = 1,
    offset: int = 0,
    abbreviations: frozenset[str] = frozenset(),
) -> Iterator[InputSentence]:
    """Read plain text, split into sentences and tokens (see `rnntag.io.text`).

    Paragraphs end at blank lines, at the end of the input, and whenever a stream that can
    tell (`TextSource`) has nothing more to read yet, so interactive input is tagged line by
    line. A document (for a document memory) is the whole input, cut into blocks of whole
    paragraphs where it runs past `BLOCK_SIZE` characters (see `text_blocks`), so that
    memory stays bounded; a headline and its story are one document. Offsets count
    characters of the decoded input from its start.

    Args:
        stream: Lines of text, line ends included.
        path: File name for error messages.
        first_line: Number of the first line, when `stream` continues a larger input.
        offset: Characters of that input before the first line.
        abbreviations: Forms after which no sentence ends, such as the model's
            (`ModelInfo.abbreviations`); see `rnntag.io.text.split_text`.

    Returns:
        An iterator over sentences with `text`, `offsets` and the first line of their
        document.
    """
    pending = getattr(stream, "pending", lambda: True)
    lines: list[str] = []
    start = position = block_start = offset
    number_of_first = document = first_line
    # The last paragraph's sentences, held until the next paragraph with a sentence: empty
    # paragraphs in between belong to the `space_after` of the last; before a block's first
    # sentence, to its `space_before` (`carried`).
    held: list[InputSentence] = []
    carried = ""
    for number, line in numbered_lines(stream, path, keep_ends=True, first=first_line):
        if not lines:
            number_of_first, start = number, position
        lines.append(line)
        position += len(line)
        blank, waiting = not line.strip(), not pending()
        if blank or waiting:
            paragraph = "".join(lines)
            found = _paragraph(
                paragraph, number_of_first, start, (document, abbreviations), carried
            )
            if found:
                yield from held
                held, carried = found, ""
            elif held:
                held[-1].space_after += paragraph
            else:
                carried += paragraph
            lines = []
            # The block, and so the document, ends as `text_blocks` ends it.
            if (blank and position - block_start >= BLOCK_SIZE) or waiting:
                block_start, document = position, number + 1
                yield from held
                # A block of blank lines alone (64 kB of them) is dropped, as the workers,
                # each given a block, drop it.
                held, carried = [], ""
    yield from held
    yield from _paragraph(
        "".join(lines), number_of_first, start, (document, abbreviations), carried
    )


def text_lines(text: str) -> list[str]:
    """The lines of a text as a file of it reads them (line ends kept): broken at LF, CRLF and
    CR only, never at the other breaks `str.splitlines` knows (form feed, U+2028 and so on),
    so that a text tagged through the API or `serve` is split as `rnntag tag` splits it."""
    return io.StringIO(text, newline="").readlines()


@dataclass
class TextBlock:
    """Whole paragraphs cut from a larger plain-text input, to be split into sentences
    elsewhere (in a worker process, say) exactly as `read_text` would split them in place.

    Attributes:
        lines: The lines, line ends included.
        path: The input's name, for error messages.
        first_line: Number of the first line in the input.
        offset: Characters of the input before the first line.
        abbreviations: As for `read_text`.
    """

    lines: list[str]
    path: str
    first_line: int
    offset: int
    abbreviations: frozenset[str] = frozenset()

    def sentences(self) -> list[InputSentence]:
        """The block's sentences, with offsets into the whole input."""
        return list(
            read_text(self.lines, self.path, self.first_line, self.offset, self.abbreviations)
        )


def text_blocks(
    stream: Iterable[str],
    path: str,
    size: int = BLOCK_SIZE,
    abbreviations: frozenset[str] = frozenset(),
) -> Iterator[TextBlock]:
    """Cut plain text into blocks of whole paragraphs of about `size` characters; like
    `read_text`, a block also ends whenever the stream has nothing more to read yet.

    Args:
        stream: Lines of text, line ends included.
        path: File name for error messages.
        size: Characters after which a block ends at the next paragraph end.
        abbreviations: As for `read_text`, given to each block.

    Returns:
        An iterator over the blocks, in input order.
    """
    pending = getattr(stream, "pending", lambda: True)
    lines: list[str] = []
    first_line = start = position = 0
    for number, line in numbered_lines(stream, path, keep_ends=True):
        if not lines:
            first_line, start = number, position
        lines.append(line)
        position += len(line)
        if (not line.strip() and position - start >= size) or not pending():
            yield TextBlock(lines, path, first_line, start, abbreviations)
            lines = []
    if lines:
        yield TextBlock(lines, path, first_line, start, abbreviations)


def _paragraph(
    paragraph: str,
    first_line: int,
    start: int,
    context: tuple[int, frozenset[str]],
    before: str,
) -> list[InputSentence]:
    """The sentences of one paragraph of a document (`context`: its number and the
    abbreviations to split it with), `before` and its leading space in the first one's
    `space_before`."""
    from rnntag.io.text import split_text

    document, abbreviations = context
    spans = list(split_text(paragraph, abbreviations))
    # Line ends are counted from one sentence to the next, not from the paragraph's start
    # each time, which made a long paragraph quadratic. A sentence starts at a token, never
    # between the CR and the LF of a CRLF.
    line, counted, found = first_line, 0, []
    for k, tokens in enumerate(spans):
        begin, end = tokens[0].start, tokens[-1].end
        line += _line_ends(paragraph, counted, begin)
        following = spans[k + 1][0].start if k + 1 < len(spans) else len(paragraph)
        found.append(
            InputSentence(
                [t.text for t in tokens],
                line=line,
                text=paragraph[begin:end],
                offsets=[(start + t.start, start + t.end) for t in tokens],
                document=document,
                space_before=before + paragraph[:begin] if k == 0 else "",
                space_after=paragraph[end:following],
            )
        )
        counted = begin
    return found


def _line_ends(text: str, start: int, end: int) -> int:
    """Universal-newline line ends (LF, CRLF, lone CR) in `text[start:end]`."""
    return (
        text.count("\n", start, end) + text.count("\r", start, end) - text.count("\r\n", start, end)
    )
