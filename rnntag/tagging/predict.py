"""Tagging with a trained model: batched by length, without autograd, in input order."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from rnntag.errors import RnntagError
from rnntag.io.schemes import conversion_table, is_span_tag, to_spans
from rnntag.model.encode import Encoder
from rnntag.model.network import SequenceTagger
from rnntag.tagging.emissions import Clock, FeatureCache
from rnntag.tagging.ensemble import Ensemble
from rnntag.tagging.tagged import Prediction, check_nbest

# Largest batch in tokens (sentences times the longest length). Larger batches keep both cores
# busy in the RNN's matrix products; much larger ones fall out of the cache.
BATCH_TOKENS = 2048


def predict(
    model: SequenceTagger | Ensemble,
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
        model: The network, or an ensemble of them; it is put in evaluation mode.
        encoder: The model's vocabularies (an ensemble's members have their own).
        sentences: Tokens of each sentence, none empty.
        scores: Also compute token and span probabilities.
        max_tokens: Largest batch (see `token_batches`).
        nbest: Also give this many best sequences (CRF models only), when more than 1.
        stages: When given, seconds spent encoding (`encode`), in the network (`network`), in
            Viterbi or arg-max (`decode`) and turning indices into tags (`tags`) are added to
            it; with `scores`, the forward-backward pass counts as `decode`.
        cache: Features of the forms seen before, kept between calls; by default a new one
            (an ensemble keeps its members' own).
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
    # An ensemble computes its members' emissions itself.
    source = model if isinstance(model, Ensemble) else cache or FeatureCache(model, encoder)
    clock = Clock(stages)
    with torch.inference_mode():
        for indices, emissions, mask in source.emissions(sentences, documents, max_tokens, clock):
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
        batches = features.emissions(sentences, documents, max_tokens, Clock(None))
        for indices, emissions, mask in batches:
            if model.crf is not None:
                # (batch, seq_len, num_tags)
                probabilities = model.crf.marginals(emissions.float(), mask)
            else:
                probabilities = torch.softmax(emissions.float(), dim=2)
            for row, i in enumerate(indices):
                results[i] = probabilities[row, : len(sentences[i])].cpu()
    return results


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
    model: SequenceTagger | Ensemble,
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
