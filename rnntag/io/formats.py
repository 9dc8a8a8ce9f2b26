"""The input formats: which one a file is in (`guess_format`), how to read it (`ReadOptions`),
and the reader of each (`read_sentences`, `load_corpus`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnntag.errors import RnntagError
from rnntag.io.conll import read_conll, read_conllu, read_tokens
from rnntag.io.plaintext import read_text
from rnntag.io.sentence import InputSentence
from rnntag.io.source import open_text

Format = Literal["conll", "conllu", "tokens", "text"]
# What a file is read as when no format is given, by its suffix in any case; every command
# and the Python interface guess through `guess_format`, so that they agree.
SUFFIX_FORMATS: dict[str, Format] = {".conllu": "conllu", ".conll": "conll"}


def guess_format(path: str, otherwise: Format = "conll") -> Format:
    """The format a file's name implies.

    Args:
        path: The file's name.
        otherwise: The format of a name with no suffix in `SUFFIX_FORMATS`: CoNLL for the
            tagged files of `train` and `eval`, plain text for what `tag` reads.

    Returns:
        The format of its suffix (`.conllu` is CoNLL-U, `.conll` CoNLL), else `otherwise`.
    """
    return SUFFIX_FORMATS.get(Path(path).suffix.lower(), otherwise)


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file of sentences, as `--format`, `--tag-column`, `--tag-field` and
    `--encoding` say.

    Attributes:
        fmt: The file's format, or None to guess it from its name (`guess_format`).
        tag_column: CoNLL tag column (0-based; negative counts from the end), or None to
            read tokens only.
        tag_field: CoNLL-U tag field: `upos`, `xpos` or `misc:KEY`.
        encoding: The file's text encoding.
    """

    fmt: Format | None = None
    tag_column: int | None = -1
    tag_field: str = "upos"
    encoding: str = "utf-8"

    def format_of(self, path: str, otherwise: Format = "conll") -> Format:
        """The format to read `path` in: `fmt` when given, else as `guess_format` guesses."""
        return self.fmt or guess_format(path, otherwise)


def read_sentences(
    stream: Iterable[str],
    path: str,
    options: ReadOptions = ReadOptions(),
    require_tags: bool = False,
) -> Iterator[InputSentence]:
    """Read any supported format; see `read_conll`, `read_conllu`, `read_text` and
    `read_tokens`.

    Args:
        stream: The open text stream.
        path: File name for error messages, and for the guess of a format not given.
        options: The format and where its tags are; the stream is decoded already.
        require_tags: For CoNLL and CoNLL-U, raise an error where a token has no tag.

    Returns:
        An iterator over sentences.
    """
    fmt = options.format_of(path)
    if fmt == "conll":
        return read_conll(stream, path, options.tag_column, require_tags)
    if fmt == "conllu":
        return read_conllu(stream, path, options.tag_field, require_tags)
    if fmt == "text":
        return read_text(stream, path)
    return read_tokens(stream, path)


def load_corpus(path: str, options: ReadOptions = ReadOptions()) -> list[InputSentence]:
    """Read a whole tagged corpus into memory, requiring a tag on every token.

    Args:
        path: The file.
        options: How to read it; by default CoNLL-U for `*.conllu`, else CoNLL.

    Returns:
        Its sentences, at least one.
    """
    with open_text(path, options.encoding) as stream:
        sentences = list(read_sentences(stream, path, options, require_tags=True))
    if not sentences:
        raise RnntagError("no sentences found", path)
    return sentences
