"""Plain text to sentences of tokens with character offsets, in the conventions of the
English training corpora (Penn Treebank / UD English: `don't` is `do n't`, punctuation split
off, `U.S.`, numbers, URLs and e-mail addresses whole).

Sentence splitting and tokenisation are syntok's (pure Python, no model download, keeps
offsets); a few adjustments bring its output to UD English EWT conventions.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

_REPEATABLE = re.compile(r"^([^\w\s])\1*$")
_FINAL_MARKS = re.compile(r"^[.!?:]+$")
_EMAIL = re.compile(r"[^\s<>\"'()\[\],;:]+@[\w-]+(?:\.[\w-]+)+")
# Bound prefixes keep their hyphen in UD English (`non-human`, `re-wording`); other hyphenated
# compounds are split (`15 - year`).
_PREFIXES = frozenset(
    "anti co counter de e ex inter intra mis multi non over post pre pro re semi sub super"
    " un".split()
)
# Slashes between words are tokens of their own in UD English (`and / or`), but not in
# dates or short forms (`08/16/2000`, `b/c`).
_INNER_MARK = re.compile(r"(?<=[^\W\d]{2})/(?=[^\W\d]{2})")
# The same characters as str.isspace, in one search.
_SPACE = re.compile(r"\s")
_WHOLE = re.compile(r"://|@|^www\.", re.IGNORECASE)
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$|^[A-Z]$")
# Titles stand before a name, never at the end of a sentence.
_TITLES = frozenset("Mr Mrs Ms Dr Prof Gen Col Lt Sgt Gov Sen Rep".split())
_ABBREVIATIONS = frozenset(
    "Inc Corp Co Ltd Jr Sr Mr Mrs Ms Dr St Mt Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov"
    " Dec vs etc No Ave Blvd Gov Sen Rep Prof Gen Col Lt Sgt".split()
)


# Unicode's format characters (category Cf: U+200B, U+FEFF, U+00AD, the direction marks...)
# are invisible: never a token of their own. Those that join (a soft hyphen, the zero-width
# joiners) stay inside the word they stand in; the others separate words, as spaces do. The
# planes scanned hold all of them in Unicode 15 (a one-off 10 ms, against 0.3 s for all).
_FORMAT = re.compile(
    "[{}]".format(
        "".join(
            re.escape(chr(c))
            for low, high in ((0, 0x2100), (0xFE00, 0x20000), (0xE0000, 0xE0100))
            for c in range(low, high)
            if unicodedata.category(chr(c)) == "Cf"
        )
    )
)
_JOINERS = frozenset("\u00ad\u200c\u200d\u2060\ufeff")


# What follows an apostrophe in a contraction (`I'M`, `HE'S`), never the rest of a name.
_CLITICS = frozenset("s m d ll re ve t".split())
# Penn Treebank splits these fused forms: `cannot` is `can not`, `gonna` is `gon na`.
_FUSED = {"cannot": 3, "gonna": 3, "gotta": 3, "wanna": 3, "gimme": 3, "lemme": 3}


@dataclass
class TokenSpan:
    """A token and where it lies in the input text (`text[start:end]`)."""

    text: str
    start: int
    end: int


def _with_gaps(tokens: list[TokenSpan], source: str) -> list[TokenSpan]:
    """The tokens plus whatever non-space text syntok left between them (it drops the
    hyphens of `15-year`, which UD English keeps as tokens)."""
    filled: list[TokenSpan] = []
    for token in tokens:
        if filled and filled[-1].end < token.start:
            start = filled[-1].end
            for match in re.finditer(r"\S+", source[start : token.start]):
                filled.append(TokenSpan(match.group(), start + match.start(), start + match.end()))
        filled.append(token)
    return filled


def _adjust(tokens: list[TokenSpan], source: str) -> list[TokenSpan]:
    if not tokens:
        return []
    tokens = _with_gaps(tokens, source)
    emails = [m.span() for m in _EMAIL.finditer(source, tokens[0].start, tokens[-1].end)]
    merged: list[TokenSpan] = []
    for token in tokens:
        last = merged[-1] if merged else None
        touching = last is not None and last.end == token.start
        inside = bool(emails) and any(a <= token.start and token.end <= b for a, b in emails)
        if touching and last is not None and (inside or _continues(last.text, token.text)):
            merged[-1] = TokenSpan(source[last.start : token.end], last.start, token.end)
        else:
            merged.append(token)
    return [
        piece for token in merged for part in _split_space(token) for piece in _split_inner(part)
    ]


def _split_space(token: TokenSpan) -> list[TokenSpan]:
    """Split at characters Python counts as space that syntok does not (`\\x1f`, say), so
    that no token holds one: the output formats separate tokens by white space."""
    if not _SPACE.search(token.text):
        return [token]
    return [
        TokenSpan(m.group(), token.start + m.start(), token.start + m.end())
        for m in re.finditer(r"\S+", token.text)
    ]


def _continues(before: str, after: str) -> bool:
    """Whether two touching tokens are one in UD English: `!!`, `...`, `U.S.`, `Inc.`."""
    # A combining mark belongs to the letter before it (`Cafe` + U+0301 is `Café`).
    if unicodedata.category(after[0]).startswith("M"):
        return True
    if _REPEATABLE.match(before) and _REPEATABLE.match(after) and before[0] == after[0]:
        return True
    if _FINAL_MARKS.match(before) and _FINAL_MARKS.match(after) and after[0] != ":":
        return True
    if after == "-" and before.lower() in _PREFIXES:
        return True
    if before.endswith("-") and before[:-1].lower() in _PREFIXES and after[0].isalnum():
        return True
    # Irish, French and Italian names keep their elided article (`O'Connor`, `D'Angelo`,
    # `d'Alene`), in UD English and CoNLL-2003 alike; `McDonald's` still splits off `'s`.
    if (
        len(before) == 1
        and before.isalpha()
        and after[0] in "'\u2019"
        and after[1:2].isupper()
        and after[1:].lower() not in _CLITICS
    ):
        return True
    # syntok splits words at case changes (`iPhone`, `McDonald`); UD keeps them whole.
    if before.isalnum() and after.isalnum():
        return True
    return after == "." and (_INITIALS.match(before) is not None or before in _ABBREVIATIONS)


def _split_inner(token: TokenSpan) -> list[TokenSpan]:
    # Most tokens have nothing to split: not empty, no slash, and not a fused form.
    if token.text and "/" not in token.text and token.text.lower() not in _FUSED:
        return [token]
    if _WHOLE.search(token.text):
        return [token]
    pieces = []
    start = 0
    fused = _FUSED.get(token.text.lower())
    if fused is not None:
        return [
            TokenSpan(token.text[:fused], token.start, token.start + fused),
            TokenSpan(token.text[fused:], token.start + fused, token.end),
        ]
    for match in _INNER_MARK.finditer(token.text):
        a, b = match.span()
        pieces += [(start, a), (a, b)]
        start = b
    pieces.append((start, len(token.text)))
    return [
        TokenSpan(token.text[a:b], token.start + a, token.start + b) for a, b in pieces if b > a
    ]


def split_text(text: str, abbreviations: frozenset[str] = frozenset()) -> Iterator[list[TokenSpan]]:
    """Split text into sentences of tokens.

    Args:
        text: Plain text; blank lines separate paragraphs.
        abbreviations: Forms after which no sentence ends (`Sra.`, `tel.`), besides the
            English ones that are always known; a model's come from its training data
            (see `abbreviations`).

    Returns:
        An iterator over sentences, each a list of tokens with offsets into `text`.
    """
    # Imported here: tagging pre-tokenised input needs the rest of this module, not syntok.
    from syntok import segmenter

    # Format characters become spaces for syntok (the same length, so offsets hold); tokens
    # take their text from `text` itself.
    masked = _FORMAT.sub(" ", text) if not text.isascii() else text
    for paragraph in segmenter.analyze(masked):
        pending: list[TokenSpan] = []
        for sentence in paragraph:
            tokens = [TokenSpan(t.value, t.offset, t.offset + len(t.value)) for t in sentence]
            adjusted = _joined(_adjust(tokens, masked), text)
            if not adjusted:
                continue
            if pending and not _ends_sentence(pending, adjusted[0], abbreviations):
                pending += adjusted
                continue
            if pending:
                yield pending
            pending = adjusted
        if pending:
            yield pending


def _joined(tokens: list[TokenSpan], text: str) -> list[TokenSpan]:
    """The tokens with their text from `text`, and a word that only a joining format
    character splits (`Par` U+00AD `is`) whole again, the character inside it."""
    if text.isascii():
        return tokens
    found: list[TokenSpan] = []
    for token in tokens:
        last = found[-1] if found else None
        gap = text[last.end : token.start] if last is not None else ""
        if last is not None and gap and set(gap) <= _JOINERS:
            found[-1] = TokenSpan(text[last.start : token.end], last.start, token.end)
        else:
            found.append(TokenSpan(text[token.start : token.end], token.start, token.end))
    return found


def _ends_sentence(
    sentence: list[TokenSpan], following: TokenSpan, abbreviations: frozenset[str]
) -> bool:
    """Whether a sentence that syntok ended really ends before `following`: not after one
    of `abbreviations` (`Sra.`, whole or as `Sra` and a touching `.`), nor after an English
    title (`Dr.`), nor after another English abbreviation (`Jan.`, `No.`) when what follows
    begins in lower case or with a digit (`Jan. 5th`, `No. 7`)."""
    last = sentence[-1]
    if abbreviations:
        before = sentence[-2] if len(sentence) > 1 else None
        touching = last.text == "." and before is not None and before.end == last.start
        if (f"{before.text}." if touching and before else last.text) in abbreviations:
            return False
    if not last.text.endswith(".") or last.text[:-1] not in _ABBREVIATIONS:
        return True
    if last.text[:-1] in _TITLES:
        return False
    return not (following.text[0].islower() or following.text[0].isdigit())


# Tokens such as `Jean-Luc` or `15-year`: words joined by hyphens with nothing between.
_HYPHENATED = re.compile(r"^[^\W_]+(?:-[^\W_]+)+$")
# Share of such tokens above which a corpus keeps hyphenated compounds whole: CoNLL-2003's
# training data has 2.2 %, UD English EWT's, which splits all but bound prefixes, 0.16 %.
WHOLE_HYPHENS_SHARE = 0.005
# How a corpus writes hyphenated compounds: `Jean - Luc` (UD English) or `Jean-Luc`.
Hyphens = Literal["split", "whole"]


def hyphen_convention(sentences: Iterable[Sequence[str]]) -> Hyphens:
    """ "whole" if a tokenised corpus keeps hyphenated compounds as one token, else "split"."""
    total = hyphenated = 0
    for tokens in sentences:
        total += len(tokens)
        hyphenated += sum(1 for token in tokens if _HYPHENATED.match(token))
    return "whole" if total and hyphenated / total > WHOLE_HYPHENS_SHARE else "split"


def hyphen_groups(tokens: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[range]:
    """The runs of touching tokens that make a hyphenated compound (`Jean`, `-`, `Luc`), as
    ranges of token indices; every other token is a run of its own.

    Args:
        tokens: A sentence's tokens, split as UD English splits them.
        offsets: Their character offsets in the text.

    Returns:
        Consecutive ranges covering all tokens, in order.
    """
    groups: list[range] = []
    i = 0
    while i < len(tokens):
        end = i + 1
        while (
            end + 1 < len(tokens)
            and tokens[end] == "-"
            and offsets[end - 1][1] == offsets[end][0]
            and offsets[end][1] == offsets[end + 1][0]
            and _HYPHENATED.match(f"{tokens[end - 1][-1]}-{tokens[end + 1][0]}")
        ):
            end += 2
        groups.append(range(i, end))
        i = end
    return groups


# Word forms with inner punctuation that a training corpus keeps whole (`EE.UU`, `d'r`,
# `'s-Hertogenbosch`) and that recur there: plain text's pieces that make one are joined for
# a model of that corpus, whatever its language. Hyphenated compounds are left to
# `hyphen_convention`; at most `MAX_FORMS` are kept, the most frequent.
MAX_FORMS = 5000
_MIN_COUNT = 2
# Most pieces one kept form may be joined from.
_MAX_PIECES = 8


def kept_forms(sentences: Iterable[Sequence[str]]) -> list[str]:
    """The forms with inner punctuation that recur in a tokenised corpus, most frequent first.

    Args:
        sentences: The corpus's tokens.

    Returns:
        At most `MAX_FORMS` forms, each holding a letter or digit and something else.
    """
    counts: dict[str, int] = {}
    for tokens in sentences:
        for token in tokens:
            inner = not token.isalnum() and any(c.isalnum() for c in token)
            if inner and not _HYPHENATED.match(token):
                counts[token] = counts.get(token, 0) + 1
    frequent = [form for form, count in counts.items() if count >= _MIN_COUNT]
    return sorted(frequent, key=lambda form: (-counts[form], form))[:MAX_FORMS]


# An abbreviation: a form ending in a full stop, short (`Sra.`, `tel.`) or with stops inside
# (`EE.UU.`), that recurs in a corpus, never ends one of its sentences and is commoner than
# its letters without the stop (which keeps out a word glued to its full stop, `años.`).
_ABBREVIATION = re.compile(r"^(?:[^\W\d_]{1,4}|[^\W_]+(?:\.[^\W_]+)+)\.$")


def kept_abbreviations(sentences: Iterable[Sequence[str]]) -> list[str]:
    """The abbreviations of a tokenised corpus: plain text's sentences do not end after
    them for a model of that corpus, whatever its language.

    Args:
        sentences: The corpus's tokens.

    Returns:
        At most `MAX_FORMS` forms, most frequent first.
    """
    counts: dict[str, int] = {}
    final: set[str] = set()
    for tokens in sentences:
        words = [i for i, token in enumerate(tokens) if any(c.isalnum() for c in token)]
        for i, token in enumerate(tokens):
            counts[token] = counts.get(token, 0) + 1
            if words and i == words[-1]:
                final.add(token)
    kept = [
        form
        for form, count in counts.items()
        if _ABBREVIATION.match(form)
        and count >= _MIN_COUNT
        and form not in final
        and counts.get(form[:-1], 0) < count
    ]
    return sorted(kept, key=lambda form: (-counts[form], form))[:MAX_FORMS]


def form_groups(
    tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    groups: Sequence[range],
    forms: frozenset[str],
) -> list[range]:
    """`groups` with runs of touching groups joined where together they make one of `forms`
    (the longest run first, from left to right).

    Args:
        tokens: A sentence's tokens.
        offsets: Their character offsets in the text.
        groups: Consecutive ranges covering all tokens (see `hyphen_groups`).
        forms: The forms to make whole.

    Returns:
        Consecutive ranges covering all tokens, in order.
    """
    # Most tokens have a space after them, so most groups start no run: the runs that touch
    # throughout are found first, and only those are joined and looked up.
    apart = [a[1] != b[0] for a, b in itertools.pairwise(offsets)]
    found: list[range] = []
    g = 0
    while g < len(groups):
        reach = g + 1
        if not any(apart[groups[g].start : groups[g].stop - 1]):
            limit = min(len(groups), g + _MAX_PIECES)
            while reach < limit and not any(
                apart[groups[reach - 1].stop - 1 : groups[reach].stop - 1]
            ):
                reach += 1
        end = g + 1
        for h in range(reach, g + 1, -1):
            if "".join(tokens[groups[g].start : groups[h - 1].stop]) in forms:
                end = h
                break
        found.append(range(groups[g].start, groups[end - 1].stop))
        g = end
    return found


def stop_groups(
    tokens: Sequence[str], offsets: Sequence[tuple[int, int]], groups: Sequence[range]
) -> list[range]:
    """`groups` with a full stop joined to the word it touches where the sentence goes on
    after it (`Sra` `.` `Pérez`: an abbreviation, since no sentence ended there), for a model
    whose data writes abbreviations with their stop (one with `kept_abbreviations`).

    Args:
        tokens: A sentence's tokens.
        offsets: Their character offsets in the text.
        groups: Consecutive ranges covering all tokens.

    Returns:
        Consecutive ranges covering all tokens, in order.
    """
    last_word = max((i for i, t in enumerate(tokens) if any(c.isalnum() for c in t)), default=-1)
    found: list[range] = []
    for group in groups:
        previous = found[-1] if found else None
        if (
            previous is not None
            and tokens[group.start] == "."
            and len(group) == 1
            and group.start < last_word
            and tokens[previous.stop - 1][-1:].isalpha()
            and offsets[previous.stop - 1][1] == offsets[group.start][0]
        ):
            found[-1] = range(previous.start, group.stop)
        else:
            found.append(group)
    return found
