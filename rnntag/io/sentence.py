"""The sentence record every reader gives: `InputSentence`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

# For the annotation only: `conllu` is imported where CoNLL-U is read or written, so that the
# other formats do not pay for its import at start-up.
if TYPE_CHECKING:
    from conllu.models import TokenList


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
