"""Reading and writing CoNLL column files, CoNLL-U and one-sentence-per-line token files.

Every reader is a generator over `InputSentence` objects, so input is consumed incrementally.
Problems are raised as `RnntagError` naming the file and line.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import select
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal

from rnntag.errors import RnntagError

# `conllu` is imported where it is used: only CoNLL-U input and output need it, and the other
# formats should not pay for its import at start-up.
if TYPE_CHECKING:
    from conllu.models import Token, TokenList

Format = Literal["conll", "conllu", "tokens", "text"]
STDIN = "-"
DOCSTART = "-DOCSTART-"
CONLLU_FIELDS = 10
_CONLLU_ID = re.compile(r"^(\d+|\d+-\d+|\d+\.\d+)$")
# Sentences read ahead and sorted by length at a time; bounds memory when streaming, and is
# large enough that most batches hold sentences of a single length.
CHUNK_SIZE = 8192
# Characters of plain text after which a block for the workers ends at the next paragraph end
# (about 1,000 sentences of English): small enough that they share the work evenly to the end.
BLOCK_SIZE = 1 << 16
# The line ends of Python's universal newlines.
_LINE_END = re.compile(r"\r\n|\r|\n")
# Line breaks as `str.splitlines` knows them, which a one-line `# text` comment cannot hold.
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
# A blank line: a line end, perhaps white space, and another line end.
_BLANK_LINE = re.compile(r"(?:\r\n|\r|\n)[^\S\r\n]*(?:\r\n|\r|\n)")
# What `errors="surrogateescape"` turns an undecodable byte into.
_ESCAPED_BYTE = re.compile(r"[\udc80-\udcff]")


@dataclass
class InputSentence:
    """One sentence as read from a file.

    Attributes:
        tokens: The word forms.
        tags: Gold tags, one per token, or None when the file has none.
        line: 1-based line number of the sentence's first line in its file.
        conllu: The parsed CoNLL-U sentence, kept so it can be written back whole.
        text: The sentence as it stood in plain-text input.
        offsets: (start, end) character offsets of each token in the whole input, for
            plain-text input.
        document: The line where the sentence's document begins (a CoNLL `-DOCSTART-`
            line, a CoNLL-U `# newdoc` comment, the start of plain text or of its block of
            paragraphs; see `read_text`), or None for a sentence that is its own document
            (a file that marks no documents, `--input tokens`).
        space_before: For plain text, what stands between the previous sentence (or the
            start of the input) and this one's first token, where that is more than the
            previous sentence's `space_after` holds: leading white space, empty paragraphs.
        space_after: For plain text, what stands between the last token and the next
            sentence, or the end of its paragraph (its line end and blank line).
    """

    tokens: list[str]
    tags: list[str] | None = None
    line: int = 1
    conllu: TokenList | None = None
    text: str | None = None
    offsets: list[tuple[int, int]] | None = None
    document: int | None = None
    space_before: str = ""
    space_after: str = ""


def guess_format(path: str) -> Format:
    """The format implied by a file name: `.conllu` is CoNLL-U, anything else CoNLL."""
    return "conllu" if path.endswith(".conllu") else "conll"


def text_decoder(encoding: str) -> codecs.IncrementalDecoder:
    """An incremental decoder of a text encoding that passes undecodable bytes as lone
    surrogates (UTF-8 drops a BOM), or an error naming why `encoding` cannot read text:
    unknown, a codec that is no text encoding (rot13, hex, base64), or one that cannot pass
    bad bytes on (idna)."""
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        info = codecs.lookup(codec)
    except LookupError:
        raise RnntagError(f"unknown encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise RnntagError(f"{encoding!r} is not a text encoding (it is a {info.name} codec)")
    try:
        decoder = info.incrementaldecoder(errors="surrogateescape")
        decoder.decode(b"")
    except (TypeError, ValueError) as exc:  # UnicodeError is a ValueError
        raise RnntagError(f"encoding {encoding!r} cannot read text files ({exc})") from None
    return decoder


class TextSource:
    """The lines of a file or of standard input, decoded and read in blocks as they arrive.

    Reading the descriptor directly, rather than through Python's text layer, lets
    `pending` tell whether more input can be had without waiting, so that a pipeline gets
    its output as soon as the input written so far is tagged. A UTF-8 BOM is dropped, lines
    keep their ends (CRLF too), and undecodable bytes pass as lone surrogates so that
    `_lines` can name their line.

    Args:
        fd: An open file descriptor, read until end of file.
        path: Its name, for error messages.
        encoding: Any encoding Python knows.
    """

    BLOCK = 1 << 16

    def __init__(self, fd: int, path: str, encoding: str = "utf-8"):
        self.fd = fd
        self.path = path
        self.encoding = encoding
        self.decoder = text_decoder(encoding)
        self.lines: deque[str] = deque()
        self.carry = ""
        self.eof = False

    def __iter__(self) -> Iterator[str]:
        while True:
            while not self.lines and not self.eof:
                self._read()
            if not self.lines:
                return
            yield self.lines.popleft()

    def _read(self) -> None:
        try:
            block = os.read(self.fd, self.BLOCK)
        except OSError as exc:
            raise RnntagError(exc.strerror or "cannot read", self.path) from None
        self.eof = not block
        text = self.carry + self.decoder.decode(block, final=self.eof)
        if "\r" not in text:
            pieces = text.split("\n")
            self.carry = pieces.pop()
            self.lines.extend(piece + "\n" for piece in pieces)
        else:
            self.carry = self._split_universal(text)
        if self.eof and self.carry:
            self.lines.append(self.carry)
            self.carry = ""

    def _split_universal(self, text: str) -> str:
        """Queue the lines of `text` that end in LF, CRLF or a lone CR, as Python's universal
        newlines end them; return the unfinished rest. A CR at the very end waits for the
        next block, which may start with its LF."""
        start = 0
        for end in _LINE_END.finditer(text):
            if end.end() == len(text) and end.group() == "\r" and not self.eof:
                break
            self.lines.append(text[start : end.end()])
            start = end.end()
        return text[start:]

    def pending(self) -> bool:
        """Whether a line can be read now without waiting for the writer."""
        if self.lines or self.eof:
            return True
        try:
            return bool(select.select([self.fd], [], [], 0)[0])
        except (OSError, ValueError):
            return True


@contextmanager
def open_text(path: str, encoding: str = "utf-8") -> Iterator[TextSource]:
    """Open a file, or standard input for "-", as a `TextSource`."""
    if path == STDIN:
        if sys.stdin is None:
            raise RnntagError("standard input is closed; give the input as a file", path)
        yield TextSource(sys.stdin.fileno(), path, encoding)
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise RnntagError(exc.strerror or "cannot open file", path) from None
    try:
        yield TextSource(fd, path, encoding)
    finally:
        os.close(fd)


def _lines(
    stream: Iterable[str], path: str, keep_ends: bool = False, first: int = 1
) -> Iterator[tuple[int, str]]:
    """Lines numbered from `first`, without their line ends unless `keep_ends`; undecodable
    bytes become an error on their line."""
    number = first - 1
    encoding = _encoding_name(getattr(stream, "encoding", None) or "utf-8")
    try:
        for number, raw in enumerate(stream, start=first):
            bad = _ESCAPED_BYTE.search(raw)
            if bad:
                byte = ord(bad.group()) - 0xDC00
                raise RnntagError(
                    f"cannot decode byte 0x{byte:02x} as {encoding} (for another encoding,"
                    " use --encoding)",
                    path,
                    number,
                )
            yield number, raw if keep_ends else raw.rstrip("\r\n")
    except UnicodeError as exc:  # a decoding error, or a codec's own (UTF-16 without a BOM)
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc
        raise RnntagError(f"not valid {encoding} ({reason})", path, number + 1) from None


def _encoding_name(encoding: str) -> str:
    """How error messages name an encoding: UTF-8 as people write it, others as given."""
    try:
        canonical = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    return "UTF-8" if canonical == "utf-8" else encoding


def _split_columns(line: str) -> list[str]:
    # Tab-separated files may hold spaces inside a field; others are split on any whitespace.
    if "\t" in line:
        return [field.strip() for field in line.split("\t")]
    return line.split()


def _looks_like_conllu(line: str) -> bool:
    """A `# sent_id`/`# text` comment, or ten tab-separated fields led by a word index."""
    if line.startswith(("# sent_id", "# text", "# newdoc", "# newpar")):
        return True
    fields = line.rstrip("\r\n").split("\t")
    return len(fields) == 10 and fields[0].split("-")[0].split(".")[0].isdigit()


def read_conll(
    stream: Iterable[str], path: str, tag_column: int | None = -1, require_tags: bool = False
) -> Iterator[InputSentence]:
    """Read a CoNLL column file: one token per line, blank lines between sentences.

    Args:
        stream: The open text stream.
        path: File name for error messages.
        tag_column: Index of the tag column (negative counts from the end), or None to read
            tokens only. A file with a single column has no tags.
        require_tags: Raise an error if the file has no tag column.

    Returns:
        An iterator over sentences; `-DOCSTART-` lines are skipped.
    """
    width: int | None = None
    width_line = 0
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    hint = ""
    document = None
    for number, line in _lines(stream, path):
        if not hint and _looks_like_conllu(line):
            hint = "; the file looks like CoNLL-U (read it with --format conllu)"
        if not line.strip():
            if tokens:
                yield InputSentence(tokens, tags if tags else None, start, document=document)
                tokens, tags = [], []
            continue
        fields = _split_columns(line)
        if fields[0] == DOCSTART:
            document = number
            continue
        if width is None:
            width, width_line = len(fields), number
        elif len(fields) != width:
            raise RnntagError(
                f"expected {width} columns as on line {width_line}, found {len(fields)}{hint}",
                path,
                number,
            )
        if not tokens:
            start = number
        tokens.append(fields[0])
        if tag_column is None or width == 1:
            if require_tags:
                raise RnntagError("no tag column: the file has only one column", path, number)
            continue
        if not -width <= tag_column < width:
            raise RnntagError(
                f"tag column {tag_column} is out of range for {width} columns", path, number
            )
        tags.append(fields[tag_column])
    if tokens:
        yield InputSentence(tokens, tags if tags else None, start, document=document)


def parse_tag_field(tag_field: str) -> tuple[str, str | None]:
    """Split `upos`, `xpos` or `misc:KEY` into (field, misc key)."""
    if tag_field in ("upos", "xpos"):
        return tag_field, None
    if tag_field.startswith("misc:") and len(tag_field) > len("misc:"):
        return "misc", tag_field[len("misc:") :]
    raise RnntagError(f"tag field must be upos, xpos or misc:KEY, not {tag_field!r}")


def _conllu_tag(token: dict, field: str, key: str | None) -> str | None:
    if key is None:
        # The conllu package gives an empty upos as "_" (and an empty xpos as None).
        value = token[field]
        return None if value in (None, "_") else value
    misc = token["misc"] or {}
    value = misc.get(key)
    return None if value is None else str(value)


def read_conllu(
    stream: Iterable[str], path: str, tag_field: str = "upos", require_tags: bool = False
) -> Iterator[InputSentence]:
    """Read CoNLL-U with the `conllu` package, keeping each parsed sentence for writing back.

    Multi-word token ranges (`1-2`) and empty nodes (`8.1`) are kept in `InputSentence.conllu` but
    are not among the tokens to tag.

    Args:
        stream: The open text stream.
        path: File name for error messages.
        tag_field: `upos`, `xpos` or `misc:KEY`.
        require_tags: Raise an error when a word has no tag (`_`).

    Returns:
        An iterator over sentences.
    """
    field, key = parse_tag_field(tag_field)
    block: list[str] = []
    start = 0
    document = None
    for number, line in _lines(stream, path):
        if not line.strip():
            if block:
                yield _parse_conllu_block(block, path, start, field, key, require_tags, document)
                block = []
            continue
        if not block:
            start = number
        if line.startswith("# newdoc"):
            document = number
        if not line.startswith("#"):
            columns = line.split("\t")
            if len(columns) != CONLLU_FIELDS:
                raise RnntagError(
                    f"expected {CONLLU_FIELDS} tab-separated fields, found {len(columns)}",
                    path,
                    number,
                )
            if not _CONLLU_ID.match(columns[0]):
                raise RnntagError(f"token id {columns[0]!r} is not a number", path, number)
        block.append(line)
    if block:
        yield _parse_conllu_block(block, path, start, field, key, require_tags, document)


def _parse_conllu_block(
    block: list[str],
    path: str,
    start: int,
    field: str,
    key: str | None,
    require_tags: bool,
    document: int | None,
) -> InputSentence:
    import conllu

    try:
        sentence = conllu.parse("\n".join(block) + "\n\n")[0]
    except Exception as exc:  # conllu raises several exception types for malformed input
        raise RnntagError(f"malformed CoNLL-U sentence: {exc}", path, start) from None
    # Every non-comment line of the block is one entry of `sentence`, in order.
    token_lines = [start + i for i, line in enumerate(block) if not line.startswith("#")]
    tokens: list[str] = []
    tags: list[str | None] = []
    lines: list[int] = []
    for token, number in zip(sentence, token_lines, strict=True):
        if not isinstance(token["id"], int):
            continue
        tokens.append(token["form"] if token["form"] is not None else "_")
        tags.append(_conllu_tag(token, field, key))
        lines.append(number)
    if not tokens:
        raise RnntagError("sentence has no words", path, start)
    if None in tags:
        if require_tags:
            number = lines[tags.index(None)]
            raise RnntagError(f"a word has no {field if key is None else key} tag", path, number)
        return InputSentence(tokens, None, start, sentence, document=document)
    known = [tag for tag in tags if tag is not None]
    return InputSentence(tokens, known, start, sentence, document=document)


def read_tokens(stream: Iterable[str], path: str) -> Iterator[InputSentence]:
    """Read one sentence per line, tokens separated by whitespace; blank lines are skipped."""
    for number, line in _lines(stream, path):
        tokens = line.split()
        if tokens:
            yield InputSentence(tokens, None, number)


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
    for number, line in _lines(stream, path, keep_ends=True, first=first_line):
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
    for number, line in _lines(stream, path, keep_ends=True):
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


def read_sentences(
    stream: Iterable[str],
    path: str,
    fmt: Format,
    tag_column: int | None = -1,
    tag_field: str = "upos",
    require_tags: bool = False,
) -> Iterator[InputSentence]:
    """Read any supported format; see `read_conll`, `read_conllu`, `read_text` and
    `read_tokens`."""
    if fmt == "conll":
        return read_conll(stream, path, tag_column, require_tags)
    if fmt == "conllu":
        return read_conllu(stream, path, tag_field, require_tags)
    if fmt == "text":
        return read_text(stream, path)
    return read_tokens(stream, path)


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
    return chunks(read_sentences(stream, path, fmt, tag_column=None), size, stream.pending)


def load_corpus(
    path: str,
    fmt: Format | None = None,
    tag_column: int = -1,
    tag_field: str = "upos",
    encoding: str = "utf-8",
) -> list[InputSentence]:
    """Read a whole tagged corpus into memory, requiring a tag on every token."""
    with open_text(path, encoding) as stream:
        sentences = list(
            read_sentences(
                stream, path, fmt or guess_format(path), tag_column, tag_field, require_tags=True
            )
        )
    if not sentences:
        raise RnntagError("no sentences found", path)
    return sentences


def write_conll(out: IO[str], tokens: list[str], tag_columns: Iterable[list[str]]) -> None:
    """Write one sentence as `token<TAB>tag...` lines followed by a blank line."""
    out.write(
        "".join("\t".join(row) + "\n" for row in zip(tokens, *tag_columns, strict=True)) + "\n"
    )


def write_conllu(
    out: IO[str],
    sentence: InputSentence,
    tags: list[str],
    tag_field: str = "upos",
    extra: Sequence[tuple[str, list[str]]] = (),
    marks: ConlluMarks | None = None,
) -> None:
    """Write a CoNLL-U sentence back with the predicted tags in `tag_field`, and any `extra`
    (field, tags) pairs too.

    Sentences that were not read from CoNLL-U get fresh ids, the comments of `marks` and a
    `# text` comment; those of plain text also the white space around each token in MISC
    (see `rnntag.io.spaces`), so that the text can be rebuilt from them.
    """
    from conllu.models import Metadata, TokenList

    from rnntag.io.spaces import gaps, misc

    parsed = sentence.conllu
    if parsed is None:
        marks = marks or ConlluMarks(str(sentence.line))
        metadata = Metadata()
        for name, starts in (("newdoc", marks.newdoc), ("newpar", marks.newpar)):
            if starts:
                metadata[name] = None
        metadata["sent_id"] = marks.sent_id
        # A sentence of plain text may run over several lines.
        metadata["text"] = _LINE_BREAKS.sub(" ", sentence.text or " ".join(sentence.tokens))
        parsed = TokenList(
            [_blank_conllu_token(i, form) for i, form in enumerate(sentence.tokens, start=1)],
            metadata=metadata,
        )
        if sentence.text is not None and sentence.offsets:
            after = gaps(sentence.text, sentence.offsets, sentence.space_after)
            for i, (token, space) in enumerate(zip(parsed, after, strict=True)):
                token["misc"] = misc(space, sentence.space_before if i == 0 else "") or None
    words = [token for token in parsed if isinstance(token["id"], int)]
    for name, column in [(tag_field, tags), *extra]:
        field, key = parse_tag_field(name)
        for token, tag in zip(words, column, strict=True):
            if key is None:
                token[field] = tag
            else:
                token["misc"] = {**(token["misc"] or {}), key: tag}
    out.write(parsed.serialize())


@dataclass
class ConlluMarks:
    """The comments of a CoNLL-U sentence written from other input: its `sent_id`, and
    whether a document (`# newdoc`) or a paragraph (`# newpar`) begins with it."""

    sent_id: str
    newdoc: bool = False
    newpar: bool = False


def conllu_marks(sentences: Sequence[InputSentence]) -> list[ConlluMarks]:
    """The `ConlluMarks` of consecutive sentences that begin a chunk of input (chunks end
    between documents, see `chunks`). A `sent_id` is the line the sentence starts on, with
    `-2`, `-3`... for the second and later sentences starting on that line of plain text."""
    found: list[ConlluMarks] = []
    for k, sentence in enumerate(sentences):
        previous = sentences[k - 1] if k else None
        newdoc = sentence.document is not None and (
            previous is None or previous.document != sentence.document
        )
        sent_id = str(sentence.line)
        if previous is not None and previous.line == sentence.line:
            last = found[-1].sent_id
            number = int(last.rpartition("-")[2]) + 1 if "-" in last else 2
            sent_id = f"{sentence.line}-{number}"
        between = (previous.space_after if previous else "") + sentence.space_before
        newpar = sentence.offsets is not None and (
            newdoc or _BLANK_LINE.search(between) is not None
        )
        found.append(ConlluMarks(sent_id, newdoc, newpar))
    return found


def _blank_conllu_token(index: int, form: str) -> Token:
    from conllu.models import Token

    fields = ("lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
    return Token({"id": index, "form": form, **dict.fromkeys(fields)})
