"""The CRF's dynamic programs checked against brute-force enumeration of all tag sequences."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnntag.model.crf import CRF, FORBIDDEN
from rnntag.tagging.predict import _viterbi_first

# Forbidden moves score -10000, where float32 resolves only about 0.002; hence rel as well.
TOLERANCE = {"abs": 1e-5, "rel": 1e-6}
# (num_tags, lengths of the sentences in one padded batch)
CASES = [
    (1, [1]),
    (2, [1]),
    (3, [4, 1, 2]),
    (4, [4, 4]),
    (4, [3, 1, 4, 2]),
    (2, [2, 4]),
]


def make_case(
    num_tags: int, lengths: list[int], generator: torch.Generator, constrained: bool = False
):
    allowed = None
    if constrained:
        # Forbid about a third of the moves at random; enumeration scores them the same way.
        allowed = (
            torch.rand(num_tags, generator=generator) > 0.3,
            torch.rand(num_tags, num_tags, generator=generator) > 0.3,
            torch.rand(num_tags, generator=generator) > 0.3,
        )
    crf = CRF(num_tags, allowed)
    with torch.no_grad():
        for param in crf.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))
    seq_len = max(lengths)
    emissions = torch.randn(len(lengths), seq_len, num_tags, generator=generator)
    mask = torch.arange(seq_len).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return crf, emissions, mask


def brute_force_scores(crf: CRF, emissions: torch.Tensor, length: int) -> dict[tuple, float]:
    """Score of every tag sequence of one sentence, computed directly from the definition."""
    start, transitions, end = crf.constrained_scores()
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=length):
        total = start[path[0]] + end[path[-1]]
        total = total + sum(emissions[t, tag] for t, tag in enumerate(path))
        total = total + sum(transitions[a, b] for a, b in itertools.pairwise(path))
        scores[path] = total.item()
    return scores


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_log_partition_matches_enumeration(num_tags, lengths, constrained, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
    log_z = crf.log_partition(emissions, mask)
    for b, length in enumerate(lengths):
        scores = torch.tensor(list(brute_force_scores(crf, emissions[b], length).values()))
        assert log_z[b].item() == pytest.approx(torch.logsumexp(scores, 0).item(), **TOLERANCE)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_viterbi_matches_enumeration(num_tags, lengths, constrained, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
    best_scores, best_paths = crf.decode(emissions, mask)
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        path = max(scores, key=scores.__getitem__)
        assert tuple(best_paths[b, :length].tolist()) == path
        assert best_paths[b, length:].eq(0).all()
        assert best_scores[b].item() == pytest.approx(scores[path], **TOLERANCE)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_score_and_likelihood_match_enumeration(num_tags, lengths, constrained, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
    tags = torch.randint(num_tags, mask.shape, generator=generator)
    gold_scores = crf.score(emissions, tags, mask)
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        assert gold_scores[b].item() == pytest.approx(
            scores[tuple(tags[b, :length].tolist())], **TOLERANCE
        )
    # Compared as a whole, not against the enumeration: near -10000 the difference of two
    # float32 numbers loses the digits the tolerance asks for.
    expected = gold_scores - crf.log_partition(emissions, mask)
    assert torch.equal(crf(emissions, tags, mask), expected)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_batch_equals_single_sentences(num_tags, lengths, constrained, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
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
        assert scores[0].item() == pytest.approx(batch_scores[b].item(), **TOLERANCE)


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


def test_log_partition_stays_finite_when_a_tag_is_reachable_only_from_unlikely_ones(generator):
    # Tag 1 may follow only tag 1, which the first emission makes about e^-200 less likely
    # than tag 0: its exp-space sum underflows, and must be floored, not turned into log(0).
    allowed = (torch.ones(2, dtype=torch.bool), torch.tensor([[True, False], [True, True]]))
    crf = CRF(2, (*allowed, torch.ones(2, dtype=torch.bool)))
    emissions = torch.tensor([[[100.0, -100.0], [0.0, 0.0], [0.0, 0.0]]], requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.bool)
    log_z = crf.log_partition(emissions, mask)
    assert torch.isfinite(log_z).all()
    log_z.sum().backward()
    assert torch.isfinite(emissions.grad).all()
    # Practically all the mass starts with tag 0.
    assert emissions.grad[0, 0].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_gradient_is_marginal_minus_gold(num_tags, lengths, generator):
    # d(-log p(gold))/d(emissions) = marginal probabilities - one-hot gold, at real tokens.
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    emissions.requires_grad_(True)
    tags = torch.where(mask, torch.randint(num_tags, mask.shape, generator=generator), 0)
    crf(emissions, tags, mask).sum().neg().backward()
    gold = torch.nn.functional.one_hot(tags, num_tags).float()
    expected = (crf.marginals(emissions.detach(), mask) - gold) * mask.unsqueeze(2)
    assert torch.allclose(emissions.grad, expected, atol=1e-5)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_marginals_match_enumeration(num_tags, lengths, constrained, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
    marginals = crf.marginals(emissions, mask)
    _, _, log_z = crf.forward_backward(emissions, mask)
    assert torch.allclose(log_z, crf.log_partition(emissions, mask))
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        paths = list(scores)
        weights = torch.softmax(torch.tensor([scores[p] for p in paths], dtype=torch.float64), 0)
        expected = torch.zeros(length, num_tags, dtype=torch.float64)
        for path, weight in zip(paths, weights, strict=True):
            for t, tag in enumerate(path):
                expected[t, tag] += weight
        assert torch.allclose(marginals[b, :length].double(), expected, atol=1e-5)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
@pytest.mark.parametrize("k", [1, 3])
def test_nbest_matches_enumeration(num_tags, lengths, constrained, k, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
    scores, paths = crf.decode_nbest(emissions, mask, k)
    best_paths = crf.decode(emissions, mask)[1]
    assert torch.equal(paths[:, 0], best_paths)
    for b, length in enumerate(lengths):
        enumerated = brute_force_scores(crf, emissions[b], length)
        ranked = sorted(enumerated, key=enumerated.__getitem__, reverse=True)
        for rank in range(min(k, len(ranked))):
            assert tuple(paths[b, rank, :length].tolist()) == ranked[rank]
            assert scores[b, rank].item() == pytest.approx(enumerated[ranked[rank]], **TOLERANCE)
        assert paths[b, :, length:].eq(0).all()
        assert (scores[b, len(ranked) :] == float("-inf")).all()


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_path_stretch_probabilities_match_enumeration(num_tags, lengths, constrained, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator, constrained)
    with torch.no_grad():
        path = crf.path_scores(emissions, mask)
    assert torch.equal(path.tags, crf.decode(emissions, mask)[1])
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        if max(scores.values()) < FORBIDDEN / 2:
            continue  # every sequence forbidden: scores near -10000 keep only 3 decimals
        log_z = torch.logsumexp(torch.tensor(list(scores.values()), dtype=torch.float64), 0)
        best = tuple(path.tags[b, :length].tolist())
        for start, end in itertools.combinations(range(length + 1), 2):
            expected = sum(
                math.exp(score - log_z)
                for p, score in scores.items()
                if p[start:end] == best[start:end]
            )
            assert path.stretch_probability(b, start, end) == pytest.approx(expected, abs=1e-5)
            if end == start + 1:
                assert path.token_log_p[b, start].exp().item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_probabilities_stay_probabilities_when_scores_run_into_the_thousands(
    scale, constrained, generator
):
    # Sentences too long to enumerate, with sums of scores that leave float32 few digits.
    crf, emissions, mask = make_case(6, [80, 57, 1, 33], generator, constrained)
    emissions = emissions * scale
    with torch.no_grad():
        path = crf.path_scores(emissions, mask)
        marginals = crf.marginals(emissions.double(), mask)
    for b, length in enumerate(mask.sum(dim=1).tolist()):
        assert marginals[b, :length].sum(dim=1).sub(1).abs().max() < 1e-9
        token = path.token_log_p[b, :length].exp()
        expected = marginals[b, :length].gather(1, path.tags[b, :length, None]).squeeze(1)
        assert (token - expected).abs().max() < 1e-9
        assert bool(((token >= 0) & (token <= 1)).all())
        assert 0 <= path.stretch_probability(b, 0, length) <= token.min() + 1e-12


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("seed", range(8))
def test_nbest_list_starts_with_the_viterbi_path_even_on_ties(k, seed):
    generator = torch.Generator().manual_seed(seed)
    crf = CRF(3)
    with torch.no_grad():
        # Scores of 0 and 1 only: many paths tie, where the two searches may part.
        for parameter in (crf.start_transitions, crf.transitions, crf.end_transitions):
            parameter.copy_(torch.randint(0, 2, parameter.shape, generator=generator).float())
    emissions = torch.randint(0, 2, (4, 5, 3), generator=generator).float()
    mask = torch.arange(5).unsqueeze(0) < torch.tensor([[5], [3], [1], [4]])
    best = crf.decode(emissions, mask)[1]
    scores, paths = crf.decode_nbest(emissions, mask, k)
    ranked_scores, ranked = _viterbi_first(best, scores, paths, mask)
    assert torch.equal(ranked[:, 0], best)
    for row in range(4):
        kept = [
            tuple(p)
            for p, s in zip(ranked[row].tolist(), ranked_scores[row], strict=True)
            if s > float("-inf")
        ]
        given = {tuple(p) for p in paths[row].tolist()} | {tuple(best[row].tolist())}
        assert len(set(kept)) == len(kept) and set(kept) <= given


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_likelihood_of_scored_positions_matches_enumeration(num_tags, lengths, seed, generator):
    # The loss of a window of a long sentence (truncated backpropagation through time): gold
    # tags count where scored, the others are summed over.
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    picks = torch.Generator().manual_seed(seed)
    tags = torch.randint(num_tags, mask.shape, generator=picks)
    scored = (torch.rand(mask.shape, generator=picks) < 0.6) & mask
    got = crf(emissions, tags, mask, scored)
    log_z = crf.log_partition(emissions, mask)
    for b, length in enumerate(lengths):
        scores = brute_force_scores(crf, emissions[b], length)
        agreeing = [
            s
            for path, s in scores.items()
            if all(path[t] == tags[b, t] for t in range(length) if scored[b, t])
        ]
        expected = torch.logsumexp(torch.tensor(agreeing), 0) - log_z[b]
        assert got[b].item() == pytest.approx(expected.item(), abs=1e-4)


@pytest.mark.parametrize(("num_tags", "lengths"), CASES)
def test_scoring_every_position_is_the_ordinary_likelihood(num_tags, lengths, generator):
    crf, emissions, mask = make_case(num_tags, lengths, generator)
    tags = torch.randint(num_tags, mask.shape, generator=generator)
    torch.testing.assert_close(crf(emissions, tags, mask, mask.clone()), crf(emissions, tags, mask))


def test_scored_likelihood_backward_reaches_every_parameter_and_the_context(generator):
    crf, emissions, mask = make_case(4, [4, 3], generator)
    emissions.requires_grad_(True)
    scored = torch.tensor([[False, True, True, False], [True, True, False, False]])
    tags = torch.zeros(mask.shape, dtype=torch.long)
    crf(emissions, tags, mask, scored).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in crf.parameters())
    # The context's emissions still get a gradient: the loss sums over their tags.
    assert emissions.grad is not None and emissions.grad[0, 0].abs().sum() > 0
