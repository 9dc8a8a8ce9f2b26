"""Tagging with a trained model: batched by length, without autograd, in input order."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from rnntag.errors import RnntagError
from rnntag.io.schemes import conversion_table, is_span_tag, to_spans
from rnntag.model.document_memory import DocumentMemory, TokenGroups
from rnntag.model.encode import Encoder, token_batches
from rnntag.model.network import SequenceTagger
from rnntag.tagging.tagged import Prediction, check_nbest

# Largest batch in tokens (sentences times the longest length). Larger batches keep both cores
# busy in the RNN's matrix products; much larger ones fall out of the cache.
BATCH_TOKENS = 2048
# Word forms whose features a tagger keeps (a few MB per model; see `FeatureCache`).
CACHED_FORMS = 1 << 15


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
    documents: Sequence[int | None] | None = None,
) -> list[Prediction]:
    """Tag sentences with `model`, batching them by length; a model with a document memory
    pools each token's memory over its whole document among `sentences`.

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
        documents: Each sentence's document (see `InputSentence.document`), or None.

    Returns:
        A prediction per sentence, in input order.
    """
    check_nbest(nbest)
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
        for indices, emissions, mask in _emissions(
            model, features, sentences, documents, max_tokens, clock
        ):
            clock.lap("network")
            if nbest > 1:
                results_of_batch = [results[i] for i in indices]
                _add_nbest(model, emissions, mask, nbest, labels, table, results_of_batch)
            if not scores:
                # (batch, seq_len)
                paths = _converted(model.decode(emissions, mask), mask, table).tolist()
                clock.lap("decode")
                for row, i in zip(paths, indices, strict=True):
                    results[i].tags = [labels[t] for t in row[: len(sentences[i])]]
                clock.lap("tags")
                continue
            path = model.path_scores(emissions, mask)
            best = _converted(path.tags, mask, table)
            clock.lap("decode")
            for row, i in enumerate(indices):
                n = len(sentences[i])
                tags = [labels[t] for t in best[row, :n].tolist()]
                results[i].tags = tags
                results[i].scores = path.token_log_p[row, :n].exp().tolist()
                results[i].spans = [
                    (kind, start, end, path.stretch_probability(row, start, end))
                    for kind, start, end in (to_spans(tags) if spans_wanted else [])
                ]
            clock.lap("tags")
    return results


def marginals(
    model: SequenceTagger,
    encoder: Encoder,
    sentences: Sequence[list[str]],
    documents: Sequence[int | None] | None = None,
    max_tokens: int = BATCH_TOKENS,
) -> list[Tensor]:
    """Each token's probability of each tag: the CRF's forward-backward marginals, or the
    softmax under a softmax decoder; a model with a document memory pools over `documents`
    as `predict` does.

    Returns:
        Per sentence, (len, num_tags) float32 probabilities on the CPU, in the order of the
        model's labels; plain tensors (not inference tensors), usable as training targets.
    """
    model.eval()
    results: list[Tensor] = [torch.empty(0) for _ in sentences]
    features = FeatureCache(model, encoder)
    with torch.no_grad():
        batches = _emissions(model, features, sentences, documents, max_tokens, _Clock(None))
        for indices, emissions, mask in batches:
            if model.crf is not None:
                # (batch, seq_len, num_tags)
                probabilities = model.crf.marginals(emissions.float(), mask)
            else:
                probabilities = torch.softmax(emissions.float(), dim=2)
            for row, i in enumerate(indices):
                results[i] = probabilities[row, : len(sentences[i])].cpu()
    return results


def _emissions(
    model: SequenceTagger,
    features: FeatureCache,
    sentences: Sequence[list[str]],
    documents: Sequence[int | None] | None,
    max_tokens: int,
    clock: _Clock,
) -> Iterator[tuple[list[int], Tensor, Tensor]]:
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
    clock: _Clock,
) -> Iterator[tuple[list[int], Tensor, Tensor]]:
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


def _viterbi_first(
    best: Tensor, scores: Tensor, paths: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """The n-best list with the Viterbi path first: on float32 near-ties the two searches
    may break a tie differently, and the first of the n best must be the tags returned.

    Args:
        best: (batch, seq_len) the Viterbi path.
        scores: (batch, k) scores of the n-best paths, `-inf` for none.
        paths: (batch, k, seq_len) the n-best paths.
        mask: (batch, seq_len) boolean.

    Returns:
        Scores and paths as given, the Viterbi path at rank 0 and once only; the last path
        gives way where the Viterbi path was not among them.
    """
    k = scores.shape[1]
    # (batch, k): the ranks that hold the Viterbi path
    same = ((paths == best.unsqueeze(1)) | ~mask.unsqueeze(1)).all(dim=2)
    # (batch, k + 1): the Viterbi path first (with the score of rank 0), then the others in
    # their order, and its copies last, as no path (-inf)
    repeated = torch.cat([torch.zeros_like(same[:, :1]), same], dim=1)
    order = torch.argsort(repeated.long(), dim=1, stable=True)[:, :k]
    # (batch, k + 1, seq_len) and (batch, k + 1)
    with_best = torch.cat([best.unsqueeze(1), paths], dim=1)
    with_scores = torch.cat([scores[:, :1], scores], dim=1).masked_fill(repeated, float("-inf"))
    # (batch, k) and (batch, k, seq_len)
    chosen_scores = with_scores.gather(1, order)
    chosen = with_best.gather(1, order.unsqueeze(2).expand(-1, -1, paths.shape[2]))
    return chosen_scores, chosen


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
    scores, paths = _viterbi_first(model.crf.decode(emissions, mask)[1], scores, paths, mask)
    # (batch * k, seq_len)
    repeated = mask.repeat_interleave(k, dim=0)
    # Each path's score and log Z again in float64, as `CRF.path_scores` explains.
    wide = emissions.double()  # (batch, seq_len, num_tags)
    # (batch, k)
    exact = model.crf.score(wide.repeat_interleave(k, dim=0), paths.flatten(0, 1), repeated)
    log_z = model.crf.log_partition(wide, mask)
    probabilities = (exact.view_as(scores) - log_z.unsqueeze(1)).clamp(max=0).exp()
    # (batch, k, seq_len)
    paths = _converted(paths.flatten(0, 1), repeated, table).view_as(paths)
    for row, result in enumerate(results):
        n = int(mask[row].sum())
        result.nbest = [
            ([labels[t] for t in paths[row, rank, :n].tolist()], float(probabilities[row, rank]))
            for rank in range(k)
            if scores[row, rank] > float("-inf")
        ]
