"""String-to-index vocabularies, stored as plain lists in `config.json`, and the other
features of a word form: its casing pattern, its characters clipped to a length."""

from __future__ import annotations

import re
from collections.abc import Iterable

PAD = "<pad>"
UNK = "<unk>"
_DIGIT = re.compile(r"\d")
_ASCII_DIGITS = str.maketrans("0123456789", "0000000000")


def word_key(word: str, normalize_digits: bool, lowercase: bool) -> str:
    """The key a word is looked up by: lowercased if `lowercase`, every digit 0 if
    `normalize_digits`."""
    if lowercase:
        word = word.lower()
    if not normalize_digits:
        return word
    if word.isascii():
        return word.translate(_ASCII_DIGITS)
    return _DIGIT.sub("0", word)


def check_entries(items: list[str]) -> None:
    """Raise `ValueError` unless `items` can be a vocabulary: `PAD` and `UNK` first, no repeats."""
    if items[:2] != [PAD, UNK]:
        raise ValueError(f"a vocabulary must start with {PAD!r} and {UNK!r}")
    if len(set(items)) != len(items):
        raise ValueError("a vocabulary must not repeat entries")


class Vocab:
    """A list of strings and its inverse; index 0 is padding and 1 the unknown symbol.

    Args:
        items: All entries, `PAD` and `UNK` first.
    """

    def __init__(self, items: list[str]):
        self.items = items
        self.index = {item: i for i, item in enumerate(items)}
        # A repeated entry leaves the index shorter than the list, so a good vocabulary (a
        # model's has some 100,000 entries) is checked without another pass over it.
        if items[:2] != [PAD, UNK] or len(self.index) != len(items):
            check_entries(items)

    def __len__(self) -> int:
        return len(self.items)

    def lookup(self, item: str) -> int:
        """Index of `item`, else of its lowercased form, else of `UNK`."""
        found = self.index.get(item)
        if found is None:
            found = self.index.get(item.lower(), 1)
        return found

    def lookup_all(self, items: Iterable[str]) -> list[int]:
        """`lookup` over many items."""
        return [self.lookup(item) for item in items]


def ranked(counts: dict[str, int]) -> list[str]:
    """Vocabulary entries by falling count (ties alphabetical), `PAD` and `UNK` first."""
    kept = sorted((k for k in counts if k not in (PAD, UNK)), key=lambda k: (-counts[k], k))
    return [PAD, UNK, *kept]


CASINGS = ("<pad>", "lower", "upper", "title", "mixed", "number", "has digit", "other")


def casing(word: str) -> int:
    """Index in `CASINGS` of the word's casing pattern (Reimers & Gurevych 2017)."""
    if word.isdigit():
        return 5
    if any(c.isdigit() for c in word):
        return 6
    if word.islower():
        return 1
    if word.isupper():
        return 2
    if word[0].isupper():
        return 3
    return 4 if any(c.isalpha() for c in word) else 7


def clip_word(word: str, max_chars: int) -> str:
    """Keep the first and last characters of an over-long word, where prefixes and suffixes are."""
    if len(word) <= max_chars:
        return word
    head = (max_chars + 1) // 2
    return word[:head] + word[len(word) - (max_chars - head) :]
