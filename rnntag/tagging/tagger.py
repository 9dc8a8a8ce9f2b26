"""`Tagger`: a loaded model with its vocabularies and form cache, and the ways to tag with
it (plain text, pre-tokenised sentences, a stream of texts)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from rnntag.io.checks import checked_text, checked_tokens
from rnntag.io.chunks import chunks
from rnntag.io.plaintext import read_text, text_lines
from rnntag.io.schemes import OUTPUT_SCHEME, check_output_scheme, scheme_labels
from rnntag.io.sentence import InputSentence
from rnntag.io.text import form_groups, hyphen_groups, stop_groups
from rnntag.model.config import ModelInfo
from rnntag.model.directory import resolve_model
from rnntag.model.encode import Encoder
from rnntag.model.modelfile import load_model
from rnntag.model.network import SequenceTagger
from rnntag.tagging import tagged
from rnntag.tagging.conventions import joined, joined_sentence, spread
from rnntag.tagging.emissions import FeatureCache
from rnntag.tagging.ensemble import Ensemble, ensemble_members
from rnntag.tagging.predict import predict
from rnntag.tagging.tagged import Prediction


class Tagger:
    """A loaded model, ready to tag. It remembers the features of the word forms it has seen
    (see `FeatureCache`), so its weights must not change while it is used.

    Args:
        info: The model's configuration (an ensemble's first member's, whose conventions for
            plain text it follows).
        model: The network, or an ensemble.
        output_scheme: Span scheme of the tags returned; by default IOB2 (BIO).
    """

    def __init__(
        self, info: ModelInfo, model: SequenceTagger | Ensemble, output_scheme: str | None = None
    ):
        check_output_scheme(output_scheme)
        self.info = info
        self.model = model
        self.encoder = Encoder(info.vocab, info.model)
        # An ensemble keeps its members' features itself.
        self.cache = None if isinstance(model, Ensemble) else FeatureCache(model, self.encoder)
        self.output_scheme: str | None = None
        if info.scheme is not None:
            self.output_scheme = output_scheme or OUTPUT_SCHEME
        self._forms = frozenset(info.forms)
        self.labels = info.vocab.labels
        if self.output_scheme is not None:
            self.labels = scheme_labels(info.vocab.labels, self.output_scheme)

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: torch.device | None = None,
        output_scheme: str | None = None,
    ) -> Tagger:
        """Load a model directory, or an ensemble: model names joined by `+` (see
        `rnntag.tagging.ensemble`)."""
        members = ensemble_members(path)
        if members is None:
            info, model = load_model(resolve_model(path), device)
            return cls(info, model, output_scheme)
        loaded = [load_model(resolve_model(m), device) for m in members]
        return cls(loaded[0][0], Ensemble(loaded), output_scheme)

    @property
    def spans(self) -> bool:
        """Whether the model tags spans (entities) rather than plain tags."""
        return self.output_scheme is not None

    def predict(
        self,
        sentences: Sequence[list[str]],
        scores: bool = False,
        nbest: int = 1,
        stages: dict[str, float] | None = None,
        documents: Sequence[int | None] | None = None,
    ) -> list[Prediction]:
        """Predictions for pre-tokenised sentences, in input order, tags in `output_scheme`.

        Args:
            sentences: Tokens of each sentence, none empty.
            scores: Also compute token and span probabilities.
            nbest: Also give this many best sequences, when more than 1.
            stages: As for `predict`.
            documents: As for `predict`.

        Returns:
            A prediction per sentence.
        """
        scheme = self.output_scheme
        return predict(
            self.model,
            self.encoder,
            sentences,
            scores,
            nbest=nbest,
            stages=stages,
            cache=self.cache,
            scheme=scheme if scheme != self.info.scheme else None,
            documents=documents,
        )

    def predict_seen(
        self,
        sentences: Sequence[InputSentence],
        scores: bool = False,
        nbest: int = 1,
        stages: dict[str, float] | None = None,
    ) -> list[Prediction]:
        """As `predict`, for sentences already in this model's tokens (`as_seen`), with
        their documents: nothing left to join."""
        documents = [s.document for s in sentences]
        return self.predict([s.tokens for s in sentences], scores, nbest, stages, documents)

    def predict_read(
        self,
        sentences: Sequence[InputSentence],
        scores: bool = False,
        nbest: int = 1,
        stages: dict[str, float] | None = None,
    ) -> list[Prediction]:
        """As `predict`, for sentences as read: a model that learned hyphenated compounds
        whole sees those of plain text joined (see `rnntag.tagging.conventions`).

        Args:
            sentences: The sentences, none empty.
            scores: As for `predict`.
            nbest: As for `predict`.
            stages: As for `predict`.

        Returns:
            A prediction per sentence, a tag per token as read.
        """
        groups = [self._compounds(s) for s in sentences]
        tokens = [
            joined(s.tokens, g) if g else s.tokens for s, g in zip(sentences, groups, strict=True)
        ]
        documents = [s.document for s in sentences]
        predicted = self.predict(tokens, scores, nbest, stages, documents)
        return [
            spread(p, g, self.output_scheme) if g else p
            for p, g in zip(predicted, groups, strict=True)
        ]

    def as_seen(self, sentence: InputSentence) -> InputSentence:
        """The sentence in the tokens this model sees: for plain text, with the pieces its
        data keeps whole joined (see `_compounds`); any other sentence as it is."""
        groups = self._compounds(sentence)
        return joined_sentence(sentence, groups) if groups else sentence

    def _compounds(self, sentence: InputSentence) -> list[range] | None:
        """The pieces to join in a sentence of plain text for this model: the forms with
        inner punctuation its data keeps whole (`EE.UU`, `'s`), an abbreviation's stop where
        its data writes them so (`Sra.`), then, for a model that learned them whole,
        hyphenated compounds of what stands (`'s-Hertogenbosch`); None when there is
        nothing to join."""
        stops = bool(self.info.abbreviations)
        if sentence.offsets is None or not (self.info.hyphens == "whole" or self._forms or stops):
            return None
        tokens, offsets = sentence.tokens, sentence.offsets
        groups = [range(i, i + 1) for i in range(len(tokens))]
        if self._forms:
            groups = form_groups(tokens, offsets, groups, self._forms)
        if stops:
            groups = stop_groups(tokens, offsets, groups)
        if self.info.hyphens == "whole":
            spans = [(offsets[g.start][0], offsets[g.stop - 1][1]) for g in groups]
            compounds = hyphen_groups(joined(tokens, groups), spans)
            groups = [range(groups[c.start].start, groups[c.stop - 1].stop) for c in compounds]
        return groups if len(groups) < len(tokens) else None

    def tag(self, text: str, scores: bool = False) -> list[tagged.Sentence]:
        """Split plain text into sentences and tokens, and tag them.

        Args:
            text: Plain text; blank lines separate paragraphs.
            scores: Also give each tag's marginal probability and each entity's confidence.

        Returns:
            The tagged sentences, with offsets into `text`.

        Example:
            >>> import rnntag
            >>> ner = rnntag.load("ner")
            >>> sentence = ner.tag("Barack Obama visited Paris last May.")[0]
            >>> [(e.text, e.label, e.start, e.end) for e in sentence.entities]
            [('Barack Obama', 'PER', 0, 12), ('Paris', 'LOC', 21, 26)]
        """
        return list(self.iter_tag([checked_text(text)], scores))

    def tag_tokens(
        self, sentences: Sequence[Sequence[str]], scores: bool = False
    ) -> list[tagged.Sentence]:
        """Tag pre-tokenised sentences.

        Args:
            sentences: The tokens of each sentence.
            scores: As for `tag`.

        Returns:
            A tagged sentence per input sentence, with offsets into its tokens joined by spaces.

        Example:
            >>> import rnntag
            >>> pos = rnntag.load("pos")
            >>> [t.tag for t in pos.tag_tokens([["I", "saw", "her", "duck", "."]])[0].tokens]
            ['PRON', 'VERB', 'PRON', 'NOUN', 'PUNCT']
        """
        read = [InputSentence(tokens) for tokens in checked_tokens(sentences, empty=True)]
        return self._tag(read, scores)

    def iter_tag(self, texts: Iterable[str], scores: bool = False) -> Iterator[tagged.Sentence]:
        """Tag many texts lazily, a few thousand sentences at a time, so memory stays bounded
        however many there are.

        Args:
            texts: Plain texts, such as the lines or documents of a large collection.
            scores: As for `tag`.

        Returns:
            An iterator over the tagged sentences of all texts in order; offsets count from the
            start of each sentence's own text.

        Example:
            >>> import rnntag
            >>> ner = rnntag.load("ner")
            >>> lines = ["Angela Merkel met Emmanuel Macron in Berlin.", "Nothing here."]
            >>> [[e.text for e in s.entities] for s in ner.iter_tag(lines)]
            [['Angela Merkel', 'Emmanuel Macron', 'Berlin'], []]
        """
        if isinstance(texts, str | bytes):
            raise TypeError("iter_tag takes an iterable of texts, not one text: use tag(text)")
        texts = (checked_text(text) for text in texts)
        for chunk in chunks(_own_documents(texts, frozenset(self.info.abbreviations))):
            yield from self._tag(chunk, scores)

    def _tag(self, sentences: list[InputSentence], scores: bool) -> list[tagged.Sentence]:
        sentences = [self.as_seen(s) for s in sentences]
        full = [s for s in sentences if s.tokens]
        predicted = iter(self.predict_seen(full, scores))
        return [
            tagged.tagged_sentence(s, next(predicted), self.spans)
            if s.tokens
            else tagged.Sentence("", [])
            for s in sentences
        ]


def _own_documents(texts: Iterable[str], abbreviations: frozenset[str]) -> Iterator[InputSentence]:
    """The sentences of each text, read as `rnntag tag` reads a file, with document numbers
    that no other text shares: each text is a document (or several, past `read_text`'s
    block size), however many texts there are."""
    used = 0
    for text in texts:
        own: dict[int | None, int] = {}
        for sentence in read_text(text_lines(text), "<text>", abbreviations=abbreviations):
            sentence.document = own.setdefault(sentence.document, used + len(own))
            yield sentence
        used += len(own)
