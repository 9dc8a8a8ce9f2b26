"""Where plain text's white space goes in CoNLL-U, so that the text can be rebuilt from the
tokens: `SpaceAfter=No` where a token touches the next, and UDPipe's `SpacesAfter` and
`SpacesBefore` (escaped: `\\s` space, `\\t` tab, `\\n` LF, `\\r` CR, `\\p` `|`, `\\\\` `\\`)
where more than one space stands, as UDPipe and Stanza write them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import pairwise

_ESCAPES = {"\\": "\\\\", " ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r", "|": "\\p"}
_UNESCAPES = {escaped: plain for plain, escaped in _ESCAPES.items()}
_ESCAPED = re.compile(r"\\[\\stnrp]")


def escape(text: str) -> str:
    """`text` as a MISC value holds it."""
    return "".join(_ESCAPES.get(c, c) for c in text)


def unescape(value: str) -> str:
    """The text a `SpacesAfter` or `SpacesBefore` value stands for."""
    return _ESCAPED.sub(lambda m: _UNESCAPES[m.group()], value)


def gaps(text: str, offsets: list[tuple[int, int]], space_after: str) -> list[str]:
    """What follows each token of a sentence of plain text.

    Args:
        text: The sentence as it stood, from its first token's start to its last's end.
        offsets: Each token's (start, end) in the whole input.
        space_after: What follows the sentence (see `InputSentence.space_after`).

    Returns:
        A string per token: the text up to the next token, and `space_after` for the last.
    """
    base = offsets[0][0]
    inner = [text[end - base : start - base] for (_, end), (start, _) in pairwise(offsets)]
    return [*inner, space_after]


def misc(after: str, before: str = "") -> dict[str, str]:
    """The MISC attributes of a token followed by `after` (and preceded by `before`, for
    the first token of a sentence): none for one space, as UD writes it."""
    found: dict[str, str] = {}
    if before:
        found["SpacesBefore"] = escape(before)
    if after == "":
        found["SpaceAfter"] = "No"
    elif after != " ":
        found["SpacesAfter"] = escape(after)
    return found


def rebuild(tokens: Iterable[tuple[str, Mapping[str, str] | None]]) -> str:
    """The text that tokens and their MISC attributes stand for, in reading order.

    Args:
        tokens: Each token's form and MISC attributes (None for `_`).

    Returns:
        The text.
    """
    parts = []
    for form, attributes in tokens:
        attributes = attributes or {}
        parts.append(unescape(attributes.get("SpacesBefore", "")))
        parts.append(form)
        if "SpacesAfter" in attributes:
            parts.append(unescape(attributes["SpacesAfter"]))
        elif attributes.get("SpaceAfter") != "No":
            parts.append(" ")
    return "".join(parts)
