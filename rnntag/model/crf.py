"""A linear-chain conditional random field over padded, batch-first emission scores.

References: Lafferty et al. 2001; Lample et al. 2016 (BiLSTM-CRF); Ma & Hovy 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

# Score given to transitions that must never be taken; finite so logsumexp stays defined.
FORBIDDEN = -10000.0
# Smallest normal float32: the floor of a sum of exp-scores, so that its log stays finite.
_TINY = torch.finfo(torch.float32).tiny


@dataclass
class PathScores:
    """Scores along one tag path per sentence, from which the probability of any stretch of
    the path follows without another pass (see `CRF.path_scores`).

    Attributes:
        tags: (batch, seq_len) the path, 0 at padded positions.
        token_log_p: (batch, seq_len) log-probability of each position's tag on the path.
        cumulative: (batch, seq_len) score of the path up to and including each position.
        alpha: (batch, seq_len) forward log-score into the path at each position.
        beta: (batch, seq_len) backward log-score out of the path at each position.
    """

    tags: Tensor
    token_log_p: Tensor
    cumulative: Tensor
    alpha: Tensor
    beta: Tensor

    def stretch_probability(self, row: int, start: int, end: int) -> float:
        """Probability that tokens `start` to `end - 1` of sentence `row` all carry their
        tags on the path: the forward score into the first, the path's own score inside,
        and the backward score out of the last."""
        inside = self.cumulative[row, end - 1] - self.cumulative[row, start]
        # At most 0: above it only by rounding.
        log_p = self.alpha[row, start] + inside + self.beta[row, end - 1]
        return float(log_p.clamp(max=0).exp())


class CRF(nn.Module):
    """Linear-chain CRF with learned transition, start and end scores.

    `transitions[i, j]` scores moving from tag i to tag j; `start_transitions[j]` scores a
    sentence starting with tag j and `end_transitions[i]` one ending with tag i. Masks are
    boolean, batch-first and left-aligned: `mask[b, t]` is True for the real tokens of
    sentence b, and every sentence has at least one token.

    Transitions that are not allowed (an `O` followed by `I-PER` in IOB2, say) score
    `FORBIDDEN` in training and in decoding alike, so the model never spends probability
    mass on them and every decoded sequence is well formed.

    Args:
        num_tags: Number of tags.
        allowed: Optional (allowed_start, allowed, allowed_end) boolean tensors of shapes
            (num_tags,), (num_tags, num_tags) indexed [from, to], and (num_tags,).
    """

    allowed_start: Tensor
    allowed: Tensor
    allowed_end: Tensor

    def __init__(self, num_tags: int, allowed: tuple[Tensor, Tensor, Tensor] | None = None):
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # (from, to)
        self.start_transitions = nn.Parameter(torch.empty(num_tags))  # (num_tags,)
        self.end_transitions = nn.Parameter(torch.empty(num_tags))  # (num_tags,)
        nn.init.uniform_(self.transitions, -0.1, 0.1)
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        if allowed is None:
            allowed = (
                torch.ones(num_tags, dtype=torch.bool),
                torch.ones(num_tags, num_tags, dtype=torch.bool),
                torch.ones(num_tags, dtype=torch.bool),
            )
        # Derived from the labels and scheme, so not saved with the weights.
        self.register_buffer("allowed_start", allowed[0], persistent=False)  # (num_tags,)
        self.register_buffer("allowed", allowed[1], persistent=False)  # (from, to)
        self.register_buffer("allowed_end", allowed[2], persistent=False)  # (num_tags,)

    def constrained_scores(
        self, dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Start (num_tags,), transition (from, to) and end (num_tags,) scores, constrained,
        in `dtype` (that of the emissions they are added to)."""
        return (
            torch.where(self.allowed_start, self.start_transitions, FORBIDDEN).to(dtype),
            torch.where(self.allowed, self.transitions, FORBIDDEN).to(dtype),
            torch.where(self.allowed_end, self.end_transitions, FORBIDDEN).to(dtype),
        )

    def forward(
        self, emissions: Tensor, tags: Tensor, mask: Tensor, scored: Tensor | None = None
    ) -> Tensor:
        """Log-likelihood of each gold tag sequence, or of its gold tags where `scored`, the
        others summed over.

        Args:
            emissions: (batch, seq_len, num_tags) scores.
            tags: (batch, seq_len) gold tag indices; padding may hold any valid index.
            mask: (batch, seq_len) boolean.
            scored: (batch, seq_len) boolean, the positions whose gold tag counts, or None
                for all.

        Returns:
            (batch,) log p(tags | emissions), or log p(tags at `scored` | emissions).
        """
        # (batch,)
        log_z = self.log_partition(emissions, mask)
        if scored is None:
            return self.score(emissions, tags, mask) - log_z
        # (batch, seq_len, num_tags): at a scored position every tag but the gold one is
        # forbidden, so the constrained sum runs over the paths that agree there
        other = torch.arange(emissions.size(2), device=emissions.device) != tags.unsqueeze(2)
        clamped = torch.where(scored.unsqueeze(2) & other, FORBIDDEN, emissions)
        # (batch,)
        return self.log_partition(clamped, mask) - log_z

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Unnormalised score of the given tag sequences.

        Args:
            emissions: (batch, seq_len, num_tags).
            tags: (batch, seq_len).
            mask: (batch, seq_len) boolean.

        Returns:
            (batch,) scores.
        """
        start, transitions, end = self.constrained_scores(emissions.dtype)
        # (batch, seq_len)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        # (batch, seq_len - 1)
        moved = transitions[tags[:, :-1], tags[:, 1:]]
        # (batch,)
        lengths = mask.sum(dim=1)
        # (batch,)
        last_tags = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        # (batch,)
        total = start[tags[:, 0]] + end[last_tags]
        # (batch,)
        total = total + torch.where(mask, emitted, 0.0).sum(dim=1)
        # (batch,)
        return total + torch.where(mask[:, 1:], moved, 0.0).sum(dim=1)

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Log of the sum of exp-scores of all tag sequences (forward algorithm).

        Args:
            emissions: (batch, seq_len, num_tags).
            mask: (batch, seq_len) boolean.

        Returns:
            (batch,) log Z.
        """
        start, transitions, end = self.constrained_scores(emissions.dtype)
        # The sum over previous tags is a matrix product in exp space, each side shifted by its
        # maximum: a (batch, num_tags) exp and log per position instead of a logsumexp over
        # (batch, from, to), several times cheaper forwards and backwards. Forbidden moves
        # become exact zeros.
        # ()
        shift = transitions.detach().max()
        # (from, to)
        exp_transitions = torch.exp(transitions - shift)
        # (batch, num_tags): log-sum of the scores of all prefixes ending in each tag
        alpha = start + emissions[:, 0]
        for t in range(1, emissions.size(1)):
            # (batch, 1)
            top = alpha.detach().amax(dim=1, keepdim=True)
            # (batch, to); a tag reachable only from far less likely ones is floored at the
            # smallest normal float rather than 0, whose log would poison the gradient
            total = (torch.exp(alpha - top) @ exp_transitions).clamp(min=_TINY)
            # (batch, num_tags)
            step = torch.log(total) + top + shift + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        # (batch,)
        return torch.logsumexp(alpha + end, dim=1)

    def forward_backward(self, emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Forward and backward log-scores at every position.

        Args:
            emissions: (batch, seq_len, num_tags).
            mask: (batch, seq_len) boolean.

        Returns:
            alpha (batch, seq_len, num_tags): log-sum of the scores of all prefixes ending in
            each tag, its emission included; beta (batch, seq_len, num_tags): log-sum of the
            scores of all suffixes after each tag, the end score included; log Z (batch,).
            The probability that position t has tag j is exp(alpha + beta - log Z).
        """
        start, transitions, end = self.constrained_scores(emissions.dtype)
        seq_len = emissions.size(1)
        # (batch, num_tags)
        alpha = start + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, seq_len):
            # (batch, from, to)
            step = alpha.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1)
            # (batch, num_tags)
            alpha = torch.where(mask[:, t].unsqueeze(1), torch.logsumexp(step, dim=1), alpha)
            alphas.append(alpha)
        # (batch, num_tags): at a sentence's last token only the end score follows
        last = end.expand_as(alpha)
        beta = last
        betas = [beta]
        for t in range(seq_len - 2, -1, -1):
            # (batch, from, to)
            step = transitions + (emissions[:, t + 1] + beta).unsqueeze(1)
            # (batch, num_tags)
            beta = torch.where(mask[:, t + 1].unsqueeze(1), torch.logsumexp(step, dim=2), last)
            betas.append(beta)
        # (batch,)
        log_z = torch.logsumexp(alpha + end, dim=1)
        # (batch, seq_len, num_tags) each
        return torch.stack(alphas, dim=1), torch.stack(betas[::-1], dim=1), log_z

    def marginals(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Probability of each tag at each position (forward-backward).

        Args:
            emissions: (batch, seq_len, num_tags).
            mask: (batch, seq_len) boolean.

        Returns:
            (batch, seq_len, num_tags) probabilities; rows at padded positions are meaningless.
        """
        alpha, beta, log_z = self.forward_backward(emissions, mask)
        # (batch, seq_len, num_tags)
        return torch.exp(alpha + beta - log_z[:, None, None])

    def path_scores(self, emissions: Tensor, mask: Tensor) -> PathScores:
        """The best path with its token marginals and what its stretches' probabilities
        need (see `PathScores.stretch_probability`).

        Args:
            emissions: (batch, seq_len, num_tags).
            mask: (batch, seq_len) boolean.

        Returns:
            The scores along each sentence's best path, in float64; log Z is split between
            `alpha` and `beta`, so that `alpha + beta` is the log-marginal of the path's tag.
        """
        best = self.decode(emissions, mask)[1]  # (batch, seq_len)
        # float32 keeps 7 digits of scores that run into the hundreds, and their differences
        # came out as probabilities of 1.0002; the path stays the one decoded without scores.
        emissions = emissions.double()  # (batch, seq_len, num_tags)
        alpha, beta, log_z = self.forward_backward(emissions, mask)
        _, transitions, _ = self.constrained_scores(emissions.dtype)
        index = best.unsqueeze(2)  # (batch, seq_len, 1)
        # (batch, seq_len) each
        alpha_path = alpha.gather(2, index).squeeze(2) - log_z.unsqueeze(1) / 2
        beta_path = beta.gather(2, index).squeeze(2) - log_z.unsqueeze(1) / 2
        # (batch, seq_len): score of stepping into each position along the path
        steps = emissions.gather(2, index).squeeze(2)
        steps[:, 1:] += transitions[best[:, :-1], best[:, 1:]]
        # (batch, seq_len): a log-probability, above 0 only by rounding
        token_log_p = (alpha_path + beta_path).clamp(max=0)
        return PathScores(best, token_log_p, steps.cumsum(dim=1), alpha_path, beta_path)

    def decode(self, emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Best tag sequence of each sentence (Viterbi algorithm).

        Args:
            emissions: (batch, seq_len, num_tags).
            mask: (batch, seq_len) boolean.

        Returns:
            A pair: (batch,) score of each best sequence, and (batch, seq_len) its tags,
            0 at padded positions.
        """
        seq_len, num_tags = emissions.shape[1:]
        start, transitions, end = self.constrained_scores()
        # (num_tags,): a padded step points each tag back at itself, carrying it through
        identity = torch.arange(num_tags, device=emissions.device)
        # Without padding no step needs masking (a check on the host, but decoding ends in
        # one there anyway).
        padded = not bool(mask.all())
        # (batch, num_tags): best score of a prefix ending in each tag
        best = start + emissions[:, 0]
        pointers = []
        for t in range(1, seq_len):
            # (batch, from, to)
            step = best.unsqueeze(2) + transitions
            # (batch, num_tags) each
            step_best, step_from = step.max(dim=1)
            # (batch, num_tags)
            step_best = step_best + emissions[:, t]
            if padded:
                keep = mask[:, t].unsqueeze(1)  # (batch, 1)
                # (batch, num_tags) each
                step_best = torch.where(keep, step_best, best)
                step_from = torch.where(keep, step_from, identity)
            best = step_best
            pointers.append(step_from)
        # (batch,) each
        scores, last = (best + end).max(dim=1)
        # (batch, 1)
        current = last.unsqueeze(1)
        path = [current]
        for step_from in reversed(pointers):
            # (batch, 1)
            current = step_from.gather(1, current)
            path.append(current)
        # (batch, seq_len)
        tags = torch.cat(path[::-1], dim=1)
        return scores, torch.where(mask, tags, 0) if padded else tags

    def decode_nbest(self, emissions: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The `k` best tag sequences of each sentence (list Viterbi), best first.

        A sentence with fewer than `k` sequences repeats its last one with score `-inf`.

        Args:
            emissions: (batch, seq_len, num_tags).
            mask: (batch, seq_len) boolean.
            k: Number of sequences.

        Returns:
            A pair: (batch, k) scores, and (batch, k, seq_len) tags, 0 at padded positions.
        """
        batch, seq_len, num_tags = emissions.shape
        start, transitions, end = self.constrained_scores()
        # (batch, num_tags, k): the k best prefix scores ending in each tag; only one prefix
        # exists at the first position, so the others start impossible.
        best = torch.full((batch, num_tags, k), float("-inf"), device=emissions.device)
        best[:, :, 0] = start + emissions[:, 0]
        # (num_tags * k,): on a padded step each (tag, rank) points back at itself
        identity = torch.arange(num_tags * k, device=emissions.device).view(num_tags, k)
        pointers = []
        for t in range(1, seq_len):
            # (batch, from * k, to)
            step = (best.unsqueeze(3) + transitions.view(1, num_tags, 1, num_tags)).flatten(1, 2)
            # (batch, k, to) each: the k best (from, rank) for each next tag
            step_best, step_from = step.topk(k, dim=1)
            keep = mask[:, t].view(batch, 1, 1)
            # (batch, num_tags, k)
            best = torch.where(
                keep, (step_best + emissions[:, t].unsqueeze(1)).transpose(1, 2), best
            )
            pointers.append(torch.where(keep, step_from.transpose(1, 2), identity))
        # (batch, num_tags * k)
        final = (best + end.view(1, num_tags, 1)).flatten(1)
        # (batch, k) each
        scores, current = final.topk(k, dim=1)
        path = [current // k]
        for step_from in reversed(pointers):
            # (batch, k): the (from, rank) each current (tag, rank) came from
            current = step_from.flatten(1).gather(1, current)
            path.append(current // k)
        # (batch, k, seq_len)
        tags = torch.stack(path[::-1], dim=2)
        return scores, torch.where(mask.unsqueeze(1), tags, 0)
