"""The language of a tokenised corpus, guessed from its commonest words, so that a model
records it without being told (`rnntag train --lang` overrides the guess)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Each language's twelve most frequent words in running text: enough to tell these apart,
# since any real text is about a quarter made of them. Languages not listed come out "und".
_COMMON = {
    "en": "the of and to in a is that for on was with",
    "es": "de la que el en y los del se las por un",
    "nl": "de het een van en in is dat op te zijn voor",
    "de": "der die und in den von zu das mit sich des auf",
    "fr": "de la le et les des en un du une est que",
    "it": "di e il la che in un per del non della le",
    "pt": "de a o que e do da em um para os no",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in _COMMON.items()}
# The least share of a language's common words, and how far ahead of the next language it
# must be, for a guess; below either the corpus is "und" (undetermined, as in BCP 47).
_MIN_SHARE = 0.08
_MIN_LEAD = 1.25
UNDETERMINED = "und"


def guess_language(sentences: Iterable[Sequence[str]]) -> str:
    """The code of the language a corpus is written in (`en`, `es`, `nl`, `de`, `fr`, `it`,
    `pt`), or "und" when no listed language stands out.

    Args:
        sentences: The corpus's tokens.

    Returns:
        An ISO 639-1 code, or "und".
    """
    counts = dict.fromkeys(_WORDS, 0)
    total = 0
    for tokens in sentences:
        for token in tokens:
            lower = token.lower()
            total += 1
            for lang, words in _WORDS.items():
                counts[lang] += lower in words
    if not total:
        return UNDETERMINED
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)
    best, second = counts[ranked[0]], counts[ranked[1]]
    if best / total < _MIN_SHARE or best < _MIN_LEAD * second:
        return UNDETERMINED
    return ranked[0]
