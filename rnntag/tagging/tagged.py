"""Tagged sentences as Python objects: a model's `Prediction` for a sentence, and what
`Tagger.tag` returns and the JSON output is made from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnntag.errors import UsageError
from rnntag.io.schemes import to_spans
from rnntag.io.sentence import InputSentence

# Best sequences one may ask for: each costs its share of every Viterbi step's memory.
MAX_NBEST = 100


@dataclass
class Prediction:
    """One model's output for one sentence.

    Attributes:
        tags: A tag per token.
        scores: Marginal probability of each predicted tag (forward-backward with a CRF,
            the softmax otherwise), when asked for.
        spans: With scores, for span models: (type, first token, end token, probability
            that exactly this span is tagged so) of each entity.
        nbest: When asked for, the best tag sequences with their probabilities, best first.
    """

    tags: list[str]
    scores: list[float] | None = None
    spans: list[tuple[str, int, int, float]] = field(default_factory=list)
    nbest: list[tuple[list[str], float]] = field(default_factory=list)


def check_nbest(nbest: int) -> None:
    """Refuse a number of best sequences outside 1..`MAX_NBEST`."""
    if not 1 <= nbest <= MAX_NBEST:
        raise UsageError(f"--nbest must be in 1..{MAX_NBEST}")


@dataclass
class Token:
    """One token with its character offsets and predicted tag.

    Attributes:
        text: The word form.
        start: Offset of its first character in the text (in the tokens joined by single
            spaces, for pre-tokenised input).
        end: Offset just past its last character.
        tag: The predicted tag.
        score: The tag's marginal probability, when scores were asked for.
    """

    text: str
    start: int
    end: int
    tag: str
    score: float | None = None


@dataclass
class Entity:
    """One predicted span of a named-entity model.

    Attributes:
        text: The span as it stands in the text.
        label: Its type (`PER`, `LOC`, ...).
        start: Character offset of its first character, as for `Token`.
        end: Offset just past its last character.
        token_start: Index of its first token in the sentence.
        token_end: Index just past its last token.
        score: The probability that exactly this span is tagged so, when scores were asked for.
    """

    text: str
    label: str
    start: int
    end: int
    token_start: int
    token_end: int
    score: float | None = None


@dataclass
class Sentence:
    """One tagged sentence.

    Attributes:
        text: The sentence as it stood in plain-text input, else its tokens joined by spaces.
        tokens: Its tokens, tagged.
        entities: The spans, for a named-entity model; empty for plain tags such as POS.
    """

    text: str
    tokens: list[Token]
    entities: list[Entity] = field(default_factory=list)


def offsets(sentence: InputSentence) -> list[tuple[int, int]]:
    """Character offsets of the tokens: in the input for plain text, else in `text_of`."""
    if sentence.offsets is not None:
        return sentence.offsets
    found, position = [], 0
    for token in sentence.tokens:
        found.append((position, position + len(token)))
        position += len(token) + 1
    return found


def text_of(sentence: InputSentence) -> str:
    """The sentence as text: as it stood in plain-text input, else its tokens joined by spaces."""
    return sentence.text if sentence.text is not None else " ".join(sentence.tokens)


def entities(sentence: InputSentence, prediction: Prediction) -> list[Entity]:
    """The spans of a span model's prediction, with their text, offsets and confidence.

    Args:
        sentence: The sentence as read.
        prediction: The model's prediction for it, tags in a span scheme.

    Returns:
        The entities in sentence order.
    """
    spans: list[tuple[str, int, int, float | None]] = [*prediction.spans] or [
        (*span, None) for span in to_spans(prediction.tags)
    ]
    places = offsets(sentence)
    text = text_of(sentence)
    # Plain-text offsets count from the start of the input, and the text from the first token.
    shift = places[0][0]
    found = []
    for label, first, end, confidence in spans:
        start, stop = places[first][0], places[end - 1][1]
        found.append(
            Entity(text[start - shift : stop - shift], label, start, stop, first, end, confidence)
        )
    return found


def tagged_sentence(sentence: InputSentence, prediction: Prediction, spans: bool) -> Sentence:
    """Combine a sentence as read with a model's prediction.

    Args:
        sentence: The sentence as read.
        prediction: The model's prediction for it.
        spans: Whether the model tags spans (entities).

    Returns:
        The tagged sentence.
    """
    scores: list[float | None] = (
        [*prediction.scores] if prediction.scores is not None else [None] * len(sentence.tokens)
    )
    tokens = [
        Token(text, start, end, tag, score)
        for text, (start, end), tag, score in zip(
            sentence.tokens, offsets(sentence), prediction.tags, scores, strict=True
        )
    ]
    return Sentence(text_of(sentence), tokens, entities(sentence, prediction) if spans else [])
