"""Writing sentences as CoNLL columns and as CoNLL-U, with the comments and the white space
that CoNLL-U keeps of other input."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from rnntag.io.conll import parse_tag_field
from rnntag.io.sentence import InputSentence

# `conllu` is imported where it is used: only CoNLL-U output needs it, and the other formats
# should not pay for its import at start-up.
if TYPE_CHECKING:
    from conllu.models import Token

# Line breaks as `str.splitlines` knows them, which a one-line `# text` comment cannot hold.
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
# A blank line: a line end, perhaps white space, and another line end.
_BLANK_LINE = re.compile(r"(?:\r\n|\r|\n)[^\S\r\n]*(?:\r\n|\r|\n)")


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
