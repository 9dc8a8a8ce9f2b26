"""What the entry points that take text or tokens from Python code (the API, `serve`, the
ONNX runtime) accept, checked in one place: the wrong type is a `TypeError` naming the type
expected, a bad value a `ValueError`."""

from __future__ import annotations

from collections.abc import Sequence


def checked_text(text: object) -> str:
    """`text`, if it is a string of plain text; a `TypeError` otherwise (bytes, None)."""
    if not isinstance(text, str):
        raise TypeError(f"expected plain text as a str, got {type(text).__name__}")
    return text


def checked_tokens(sentences: object, empty: bool = False) -> list[list[str]]:
    """Pre-tokenised sentences as lists of tokens, checked as every entry point checks them
    (the API, `serve`, the ONNX runtime): a sequence of sentences, each a sequence of
    tokens, each a non-empty string without white space.

    Args:
        sentences: What the caller gave.
        empty: Whether a sentence may have no tokens (`Tagger.tag_tokens` answers it with an
            empty sentence, in its place).

    Raises:
        TypeError: A sentence or a token of the wrong type, such as a string where a list of
            tokens belongs (which would tag each character as a token).
        ValueError: An empty sentence, or a token that is empty or holds white space.
    """
    if isinstance(sentences, str | bytes) or not isinstance(sentences, Sequence):
        raise TypeError(
            f"expected a list of sentences, each a list of tokens; got {type(sentences).__name__}"
        )
    found = []
    for number, tokens in enumerate(sentences, 1):
        if isinstance(tokens, str | bytes) or not isinstance(tokens, Sequence):
            raise TypeError(
                f"sentence {number}: expected a list of tokens (str), got {type(tokens).__name__}"
            )
        if not tokens and not empty:
            raise ValueError(f"sentence {number} has no tokens")
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(
                    f"sentence {number}: a token must be a str, not {type(token).__name__}"
                )
            if not token or token != "".join(token.split()):
                raise ValueError(
                    f"sentence {number}: {token!r} is no token (a string without spaces)"
                )
        found.append(list(tokens))
    return found
