"""Reading raw input: a file or standard input decoded in blocks as it arrives (`TextSource`),
and its lines numbered, with undecodable bytes as errors that name their line."""

from __future__ import annotations

import codecs
import os
import re
import select
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rnntag.errors import RnntagError

STDIN = "-"
# The line ends of Python's universal newlines.
_LINE_END = re.compile(r"\r\n|\r|\n")
# What `errors="surrogateescape"` turns an undecodable byte into.
_ESCAPED_BYTE = re.compile(r"[\udc80-\udcff]")


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
    `numbered_lines` can name their line.

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


def numbered_lines(
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
