"""Emission scores of sentences for tagging: each form's features computed once
(`FeatureCache`), sentences batched by length, pooled over documents for a model with a
document memory."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from rnntag.model.document_memory import DocumentMemory, TokenGroups
from rnntag.model.encode import Encoder, token_batches
from rnntag.model.network import SequenceTagger

# Word forms whose features a tagger keeps (a few MB per model; see `FeatureCache`).
CACHED_FORMS = 1 << 15

Batches = Iterator[tuple[list[int], Tensor, Tensor]]


def _emissions(
    model: SequenceTagger,
    features: FeatureCache,
    sentences: Sequence[list[str]],
    documents: Sequence[int | None] | None,
    max_tokens: int,
    clock: Clock,
) -> Batches:
    """The emission scores of every batch of `sentences` (see `token_batches`).

    Returns:
        An iterator over (sentence indices, (batch, seq_len, num_tags) scores, (batch,
        seq_len) mask), in no particular order.
    """
    if model.config.doc_memory == "on":
        yield from _memory_emissions(model, features, sentences, documents, max_tokens, clock)
        return
    for indices in token_batches([len(s) for s in sentences], max_tokens):
        # (batch, seq_len, input_size), (batch, seq_len)
        inputs, mask, padded = features.batch([sentences[i] for i in indices])
        clock.lap("encode")
        # (batch, seq_len, num_tags)
        yield indices, model.emissions(model.states(inputs, mask, padded)), mask


def _memory_emissions(
    model: SequenceTagger,
    features: FeatureCache,
    sentences: Sequence[list[str]],
    documents: Sequence[int | None] | None,
    max_tokens: int,
    clock: Clock,
) -> Batches:
    """`_emissions` of a model with a document memory, each token's memory pooled over its
    whole document (a sentence without one is its own). The sentences are batched by length
    as for any model, and go through the memory's two phases (see
    `rnntag.model.document_memory`): every batch is added, then all are scored."""
    if not sentences:
        return
    device = next(model.parameters()).device
    groups = TokenGroups(sentences, documents)
    memory = DocumentMemory(model.emissions)
    batches = []
    for indices in token_batches([len(s) for s in sentences], max_tokens):
        # (batch, seq_len, input_size), (batch, seq_len)
        inputs, mask, padded = features.batch([sentences[i] for i in indices])
        clock.lap("encode")
        # (batch, seq_len) each
        numbers, keep = (torch.from_numpy(a).to(device) for a in groups.batch(indices))
        memory.add(model.states(inputs, mask, padded), keep, numbers)
        batches.append((indices, mask))
        # All batches run before the first is given out: each one's network time is its own.
        clock.lap("network")
    for (indices, mask), scores in zip(batches, memory.scores(), strict=True):
        yield indices, scores, mask


class FeatureCache:
    """The token features (see `SequenceTagger.features`) of the word forms seen so
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

    def emissions(
        self,
        sentences: Sequence[list[str]],
        documents: Sequence[int | None] | None,
        max_tokens: int,
        clock: Clock,
    ) -> Batches:
        """The emission scores of every batch of `sentences` (see `_emissions`)."""
        return _emissions(self.model, self, sentences, documents, max_tokens, clock)

    def _add(self, forms: list[str]) -> None:
        device = next(self.model.parameters()).device
        # (forms, input_size): every new form as one sentence
        features = self.model.features(self.encoder.batch([forms]).to(device))[0]
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


class Clock:
    """Adds the seconds since its last lap to a named entry of `stages`, if there is one."""

    def __init__(self, stages: dict[str, float] | None):
        self.stages = stages
        self.mark = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.stages is not None:
            now = time.perf_counter()
            self.stages[stage] = self.stages.get(stage, 0.0) + now - self.mark
            self.mark = now
