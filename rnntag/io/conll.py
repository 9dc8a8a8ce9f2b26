"""Readers of tokenised input: CoNLL column files, CoNLL-U and one-sentence-per-line token
files.

Every reader is a generator over `InputSentence` objects, so input is consumed incrementally.
Problems are raised as `RnntagError` naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from rnntag.errors import RnntagError
from rnntag.io.sentence import InputSentence
from rnntag.io.source import numbered_lines

DOCSTART = "-DOCSTART-"
CONLLU_FIELDS = 10
_CONLLU_ID = re.compile(r"^(\d+|\d+-\d+|\d+\.\d+)$")


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
    for number, line in numbered_lines(stream, path):
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
    for number, line in numbered_lines(stream, path):
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
    # Imported here, so that the other formats do not pay for its import at start-up.
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
    for number, line in numbered_lines(stream, path):
        tokens = line.split()
        if tokens:
            yield InputSentence(tokens, None, number)
