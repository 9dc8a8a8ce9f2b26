"""Tagging with a trained model: batched by length, without autograd, in input order."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from rnntag import tagged
from rnntag.config import ModelInfo
from rnntag.corpus import Sentence, chunks, read_text
from rnntag.encode import Encoder, token_batches
from rnntag.errors import RnntagError
from rnntag.memory import bound_kernel_cache
from rnntag.model import SequenceTagger
from rnntag.modelfile import load_model, resolve_model
from rnntag.schemes import conversion_table, is_span_tag, scheme_labels, to_spans

# Largest batch in tokens (sentences times the longest length). Larger batches keep both cores
# busy in the RNN's matrix products; much larger ones fall out of the cache.
BATCH_TOKENS = 2048
# Word forms whose features a tagger keeps (a few MB per model; see `FeatureCache`).
CACHED_FORMS = 1 << 15


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


def predict(
    model: SequenceTagger,
    encoder: Encoder,
    sentences: Sequence[list[str]],
    scores: bool = False,
    max_tokens: int = BATCH_TOKENS,
    nbest: int = 1,
    stages: dict[str, float] | None = None,
    cache: FeatureCache | None = None,
    scheme: str | None = None,
) -> list[Prediction]:
    """Tag sentences with `model`, batching them by length.

    Args:
        model: The network; it is put in evaluation mode.
        encoder: The model's vocabularies.
        sentences: Tokens of each sentence, none empty.
        scores: Also compute token and span probabilities.
        max_tokens: Largest batch (see `token_batches`).
        nbest: Also give this many best sequences (CRF models only), when more than 1.
        stages: When given, seconds spent encoding (`encode`), in the network (`network`), in
            Viterbi or arg-max (`decode`) and turning indices into tags (`tags`) are added to
            it; with `scores`, the forward-backward pass counts as `decode`.
        cache: Features of the forms seen before, kept between calls; by default a new one.
        scheme: Span scheme of the tags returned, when not the model's.

    Returns:
        A prediction per sentence, in input order.
    """
    model.eval()
    labels = encoder.labels
    spans_wanted = all(is_span_tag(label) for label in labels)
    table = None
    if scheme is not None:
        labels, table = _conversion(tuple(labels), scheme)
    results: list[Prediction] = [Prediction([]) for _ in sentences]
    features = cache or FeatureCache(model, encoder)
    clock = _Clock(stages)
    with torch.inference_mode():
        for indices in token_batches([len(s) for s in sentences], max_tokens):
            # (batch, seq_len, input_size), (batch, seq_len)
            inputs, mask, padded = features.batch([sentences[i] for i in indices])
            clock.lap("encode")
            # (batch, seq_len, num_tags)
            emissions = model.score_features(inputs, mask, padded)
            clock.lap("network")
            if nbest > 1:
                results_of_batch = [results[i] for i in indices]
                _add_nbest(model, emissions, mask, nbest, labels, table, results_of_batch)
            if not scores:
                # (batch, seq_len)
                paths = _converted(model.best_tags(emissions, mask), mask, table).tolist()
                clock.lap("decode")
                for row, i in zip(paths, indices, strict=True):
                    results[i].tags = [labels[t] for t in row[: len(sentences[i])]]
                clock.lap("tags")
                continue
            # (batch, seq_len) each
            best, token_log_p, cumulative, alpha, beta = _scored(model, emissions, mask)
            best = _converted(best, mask, table)
            clock.lap("decode")
            for row, i in enumerate(indices):
                n = len(sentences[i])
                tags = [labels[t] for t in best[row, :n].tolist()]
                spans: list[tuple[str, int, int, float]] = []
                for kind, start, end in to_spans(tags) if spans_wanted else []:
                    # Score of the path inside the span, between the forward score into its
                    # first token and the backward score out of its last one.
                    inside = cumulative[row, end - 1] - cumulative[row, start]
                    log_p = alpha[row, start] + inside + beta[row, end - 1]
                    spans.append((kind, start, end, float(log_p.exp())))
                results[i].tags, results[i].spans = tags, spans
                results[i].scores = token_log_p[row, :n].exp().tolist()
            clock.lap("tags")
    return results


class FeatureCache:
    """The token features (see `SequenceTagger.token_features`) of the word forms seen so
    far, each computed once: outside training they depend on the form alone, and since word
    forms follow Zipf's law, most tokens of a text are forms seen before. Valid only while
    the model's weights stay as they are.

    Args:
        model: The network.
        encoder: Its vocabularies.
        limit: Forms remembered before all are forgotten, which bounds memory.
    """

    def __init__(self, model: SequenceTagger, encoder: Encoder, limit: int = CACHED_FORMS):
        self.model = model
        self.encoder = encoder
        self.limit = limit
        self.rows: dict[str, int] = {}
        self.table: Tensor | None = None  # (capacity, input_size), the first len(rows) in use

    def batch(self, sentences: Sequence[list[str]]) -> tuple[Tensor, Tensor, bool]:
        """Features of a batch of sentences, computing those of new forms.

        Args:
            sentences: Tokens of each sentence, none empty.

        Returns:
            (batch, seq_len, input_size) features, zero at padding; (batch, seq_len) mask;
            whether any sentence is shorter than the batch.
        """
        forms = dict.fromkeys(token for tokens in sentences for token in tokens)
        new = [form for form in forms if form not in self.rows]
        if len(self.rows) + len(new) > self.limit:
            self.rows.clear()
            new = list(forms)
        if new:
            self._add(new)
        assert self.table is not None
        rows = self.rows
        lengths = [len(tokens) for tokens in sentences]
        device = self.table.device
        # (tokens,)
        index = torch.tensor([rows[t] for tokens in sentences for t in tokens], device=device)
        # (tokens, input_size)
        flat = self.table.index_select(0, index)
        width = max(lengths)
        if min(lengths) == width:
            # (batch, seq_len, input_size), (batch, seq_len)
            features = flat.view(len(sentences), width, -1)
            return features, torch.ones(features.shape[:2], dtype=torch.bool, device=device), False
        # (batch, seq_len)
        mask = torch.arange(width, device=device) < torch.tensor(lengths, device=device)[:, None]
        # (batch, seq_len, input_size)
        features = flat.new_zeros(len(sentences), width, flat.size(1))
        features[mask] = flat
        return features, mask, True

    def _add(self, forms: list[str]) -> None:
        device = next(self.model.parameters()).device
        # (forms, input_size): every new form as one sentence
        features = self.model.token_features(self.encoder.batch([forms]).to(device))[0]
        start = len(self.rows)
        if self.table is None or start + len(forms) > self.table.size(0):
            # Room for twice what is needed, so that the table is reallocated rarely, but never
            # for more forms than are kept.
            rows = min(2 * (start + len(forms)), max(self.limit, start + len(forms)))
            table = features.new_empty(rows, features.size(1))
            if self.table is not None:
                table[:start] = self.table[:start]
            self.table = table
        self.table[start : start + len(forms)] = features
        self.rows.update(zip(forms, range(start, start + len(forms)), strict=True))


class _Clock:
    """Adds the seconds since its last lap to a named entry of `stages`, if there is one."""

    def __init__(self, stages: dict[str, float] | None):
        self.stages = stages
        self.mark = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.stages is not None:
            now = time.perf_counter()
            self.stages[stage] = self.stages.get(stage, 0.0) + now - self.mark
            self.mark = now


@functools.cache
def _conversion(labels: tuple[str, ...], scheme: str) -> tuple[list[str], Tensor]:
    """`conversion_table` of a model's labels, as a (labels + 1, labels, labels + 1) tensor."""
    targets, table = conversion_table(labels, scheme)
    return targets, torch.tensor(table)


def _converted(paths: Tensor, mask: Tensor, table: Tensor | None) -> Tensor:
    """(batch, seq_len) tag indices looked up in a `_conversion` table, if one is given."""
    if table is None:
        return paths
    table = table.to(paths.device)
    edge = table.size(1)  # the index of the start before, or the end after, a sentence
    # (batch, seq_len) each: the tags before and after each position
    before = torch.cat([paths.new_full((paths.size(0), 1), edge), paths[:, :-1]], dim=1)
    after = torch.cat([paths[:, 1:], paths.new_full((paths.size(0), 1), edge)], dim=1)
    after = torch.where(torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1), after, edge)
    # (batch, seq_len)
    return torch.where(mask, table[before, paths, after], 0)


def _add_nbest(
    model: SequenceTagger,
    emissions: Tensor,
    mask: Tensor,
    k: int,
    labels: list[str],
    table: Tensor | None,
    results: list[Prediction],
) -> None:
    """Add the `k` best sequences for (batch, seq_len, num_tags) emissions to `results`,
    their tags converted with `table` if one is given (see `_converted`)."""
    if model.crf is None:
        raise RnntagError("n-best sequences need a model with a CRF decoder")
    # (batch, k), (batch, k, seq_len)
    scores, paths = model.crf.decode_nbest(emissions, mask, k)
    # (batch, k, seq_len)
    paths = _converted(paths.flatten(0, 1), mask.repeat_interleave(k, dim=0), table).view_as(paths)
    # (batch, k)
    probabilities = (scores - model.crf.log_partition(emissions, mask).unsqueeze(1)).exp()
    for row, result in enumerate(results):
        n = int(mask[row].sum())
        result.nbest = [
            ([labels[t] for t in paths[row, rank, :n].tolist()], float(probabilities[row, rank]))
            for rank in range(k)
            if scores[row, rank] > float("-inf")
        ]


def _scored(
    model: SequenceTagger, emissions: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """For (batch, seq_len, num_tags) emissions: the best path (batch, seq_len); per position
    along it: log-marginal, cumulative path score, and forward and backward log-scores less
    half of log Z each, all (batch, seq_len)."""
    if model.crf is None:
        # (batch, seq_len, num_tags)
        log_p = torch.log_softmax(emissions, dim=2)
        # (batch, seq_len)
        best = torch.where(mask, log_p.argmax(dim=2), 0)
        # (batch, seq_len)
        token = log_p.gather(2, best.unsqueeze(2)).squeeze(2)
        cumulative = token.cumsum(dim=1)
        # A span's probability is the product of its tokens' under a softmax decoder.
        return best, token, cumulative, token, torch.zeros_like(token)
    alpha, beta, log_z = model.crf.forward_backward(emissions, mask)
    _, transitions, _ = model.crf.constrained_scores()
    best = model.crf.decode(emissions, mask)[1]
    index = best.unsqueeze(2)  # (batch, seq_len, 1)
    # (batch, seq_len): the scores along the best path, log Z split between both ends
    alpha_path = alpha.gather(2, index).squeeze(2) - log_z.unsqueeze(1) / 2
    beta_path = beta.gather(2, index).squeeze(2) - log_z.unsqueeze(1) / 2
    # (batch, seq_len): score of stepping into each position along the path
    steps = emissions.gather(2, index).squeeze(2)
    steps[:, 1:] += transitions[best[:, :-1], best[:, 1:]]
    return best, alpha_path + beta_path, steps.cumsum(dim=1), alpha_path, beta_path


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RnntagError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise RnntagError(f"device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


class Tagger:
    """A loaded model, ready to tag. It remembers the features of the word forms it has seen
    (see `FeatureCache`), so its weights must not change while it is used.

    Args:
        info: The model's configuration.
        model: The network.
        output_scheme: Span scheme of the tags returned; by default that of the training data.
    """

    def __init__(self, info: ModelInfo, model: SequenceTagger, output_scheme: str | None = None):
        bound_kernel_cache()
        self.info = info
        self.model = model
        self.encoder = Encoder(info.vocab, info.model)
        self.cache = FeatureCache(model, self.encoder)
        self.output_scheme = output_scheme or info.data_scheme or info.scheme
        if info.scheme is None:
            self.output_scheme = None
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
        """Load a model directory."""
        info, model = load_model(resolve_model(path), device)
        return cls(info, model, output_scheme)

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
    ) -> list[Prediction]:
        """Predictions for pre-tokenised sentences, in input order, tags in `output_scheme`.

        Args:
            sentences: Tokens of each sentence, none empty.
            scores: Also compute token and span probabilities.
            nbest: Also give this many best sequences, when more than 1.
            stages: As for `predict`.

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
        )

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
        return list(self.iter_tag([text], scores))

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
        read = [Sentence([*tokens]) for tokens in sentences]
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
        sentences = (s for text in texts for s in read_text(text.splitlines(True), "<text>"))
        for chunk in chunks(sentences):
            yield from self._tag(chunk, scores)

    def _tag(self, sentences: list[Sentence], scores: bool) -> list[tagged.Sentence]:
        full = [s for s in sentences if s.tokens]
        predicted = iter(self.predict([s.tokens for s in full], scores))
        return [
            tagged.tagged_sentence(s, next(predicted), self.spans)
            if s.tokens
            else tagged.Sentence("", [])
            for s in sentences
        ]
