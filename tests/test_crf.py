"""The CRF's dynamic programs checked against brute-force enumeration of all tag sequences."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnntag.crf import CRF

# (num_tags, lengths of the sentences in one padded batch)
CASES = [
    (1, [1]),
    (2, [1]),
    (3, [4, 1, 2]),
    (4, [4, 4]),
    (4, [3, 1, 4, 2]),
    (2, [2, 4]),
]


def make_case(num_tags: int, lengths: list[int], generator: torch.Generator):
    crf = CRF(num_tags)
    with torch.no_grad():
        for param in crf.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))
    seq_len = max(lengths)
    emissions = torch.randn(len(lengths), seq_len, num_tags, generator=generator)
    mask = torch.arange(seq_len).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return crf, emissions, mask


def brute_force_scores(crf: CRF, emissions: torch.Tensor, length: int) -> dict[tuple, float]:
    """Score of every tag sequence of one sentence, computed directly from the definition."""
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=length):
        total = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        total = total + sum(emissions[t, tag] for t, tag in enumerate(path))
        total = total + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))
        scores[path] = total.item()
    return scores


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_log_partition_matches_enumeration(num_tags, lengths, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    log_z = crf.log_partition(emissions, mask)
    for b, length in enumerate(lengths):
        scores = torch.tensor(list(brute_force_scores(crf, emissions[b], length).values()))
        assert log_z[b].item() == pytest.approx(torch.logsumexp(scores, 0).item(), abs=1e-5)


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_viterbi_matches_enumeration(num_tags, lengths, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    best_scores, best_paths = crf.decode(emissions, mask)
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        path = max(scores, key=scores.__getitem__)
        assert tuple(best_paths[b, :length].tolist()) == path
        assert best_paths[b, length:].eq(0).all()
        assert best_scores[b].item() == pytest.approx(scores[path], abs=1e-5)


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_score_and_likelihood_match_enumeration(num_tags, lengths, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    tags = torch.randint(num_tags, mask.shape, generator=generator)
    log_likelihood = crf(emissions, tags, mask)
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        gold = scores[tuple(tags[b, :length].tolist())]
        log_z = torch.logsumexp(torch.tensor(list(scores.values())), 0).item()
        assert log_likelihood[b].item() == pytest.approx(gold - log_z, abs=1e-5)


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_batch_equals_single_sentences(num_tags, lengths, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    tags = torch.randint(num_tags, mask.shape, generator=generator)
    batch_ll = crf(emissions, tags, mask)
    batch_scores, batch_paths = crf.decode(emissions, mask)
    for b, length in enumerate(lengths):
        alone = (emissions[b : b + 1, :length], mask[b : b + 1, :length])
        assert crf(alone[0], tags[b : b + 1, :length], alone[1]).item() == pytest.approx(
            batch_ll[b].item(), abs=1e-5
        )
        scores, paths = crf.decode(*alone)
        assert paths[0].tolist() == batch_paths[b, :length].tolist()
        assert scores[0].item() == pytest.approx(batch_scores[b].item(), abs=1e-5)


def test_backward_reaches_every_parameter(generator):
    crf, emissions, mask = make_case(3, [3, 1, 2], generator)
    emissions.requires_grad_(True)
    tags = torch.randint(3, mask.shape, generator=generator)
    crf(emissions, tags, mask).sum().neg().backward()
    for param in [*crf.parameters(), emissions]:
        assert param.grad is not None and torch.isfinite(param.grad).all()
        assert param.grad.abs().sum() > 0
    # Padding must not receive gradient: it is not part of any sentence.
    assert emissions.grad[~mask].abs().sum() == 0


def test_gradient_is_marginal_minus_gold(generator):
    # d(-log p)/d(emissions) = marginal probabilities - one-hot gold; rows sum to zero.
    crf, emissions, mask = make_case(4, [4], generator)
    emissions.requires_grad_(True)
    tags = torch.randint(4, mask.shape, generator=generator)
    crf(emissions, tags, mask).sum().neg().backward()
    assert emissions.grad.sum(dim=2).abs().max() < 1e-5
