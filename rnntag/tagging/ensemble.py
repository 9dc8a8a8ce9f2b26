"""`Ensemble`: several models with the same labels tagging as one. Each member encodes the
sentences with its own vocabularies (and pools over documents with its own memory, if it
has one); their scores are averaged and decoded once:

- CRF members: the mean of their emission scores, decoded (Viterbi, marginals, n-best) with
  a CRF whose transition, start and end scores are the means of theirs;
- softmax members: the mean of their log-probabilities, decoded by arg-max.

On the command line and in `rnntag.load` an ensemble is named by its members joined with
`+` (`-m runs/s1+runs/s2`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from rnntag.errors import RnntagError
from rnntag.model.config import ModelInfo
from rnntag.model.crf import CRF, PathScores
from rnntag.model.directory import resolve_model
from rnntag.model.encode import Encoder
from rnntag.model.network import SequenceTagger, decode, path_scores
from rnntag.tagging.emissions import Batches, Clock, FeatureCache

SEPARATOR = "+"


def ensemble_members(name: str | Path) -> list[str] | None:
    """The members of an ensemble's name (`a+b`), or None for the name of one model (a
    directory whose name holds `+` is one model)."""
    if not isinstance(name, str) or SEPARATOR not in name or resolve_model(name).is_dir():
        return None
    members = name.split(SEPARATOR)
    if not all(members):
        raise RnntagError(f"an ensemble's members are model names joined by {SEPARATOR}", name)
    return members


class Ensemble(nn.Module):
    """Models tagging as one (see the module's docstring).

    Args:
        members: Each member's configuration and network; all share their labels, scheme
            and decoder (CRF or softmax).

    Raises:
        RnntagError: The members' labels, scheme or decoders differ.
    """

    def __init__(self, members: Sequence[tuple[ModelInfo, SequenceTagger]]):
        super().__init__()
        first, _ = members[0]
        for info, network in members[1:]:
            if (info.vocab.labels, info.scheme) != (first.vocab.labels, first.scheme):
                raise RnntagError(
                    "the models of an ensemble must share their labels and scheme:"
                    f" {_labels(first)} and {_labels(info)}"
                )
            if (network.crf is None) != (members[0][1].crf is None):
                raise RnntagError("the models of an ensemble must all have a CRF, or none")
        self.networks = nn.ModuleList(network for _, network in members)
        self.encoders = [Encoder(info.vocab, info.model) for info, _ in members]
        self.caches = [
            FeatureCache(network, encoder)
            for (_, network), encoder in zip(members, self.encoders, strict=True)
        ]
        crfs = [network.crf for _, network in members]
        self.crf = _mean_crf([c for c in crfs if c is not None]) if crfs[0] is not None else None

    def emissions(
        self,
        sentences: Sequence[list[str]],
        documents: Sequence[int | None] | None,
        max_tokens: int,
        clock: Clock,
    ) -> Batches:
        """The mean of the members' emission scores (log-probabilities, under softmax) for
        every batch of `sentences`, as `FeatureCache.emissions` gives them."""
        streams = [c.emissions(sentences, documents, max_tokens, clock) for c in self.caches]
        for batches in zip(*streams, strict=True):
            indices, _, mask = batches[0]
            # Every member batches by length alike.
            assert all(other == indices for other, _, _ in batches)
            # (members, batch, seq_len, num_tags)
            scores = torch.stack([self._scores(emissions) for _, emissions, _ in batches])
            yield indices, scores.mean(dim=0), mask

    def _scores(self, emissions: Tensor) -> Tensor:
        """A member's (batch, seq_len, num_tags) emissions as averaged: as they are for a
        CRF, as log-probabilities under softmax."""
        return emissions if self.crf is not None else torch.log_softmax(emissions, dim=2)

    def decode(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """As `SequenceTagger.decode`, with the mean CRF."""
        return decode(self.crf, emissions, mask)

    def path_scores(self, emissions: Tensor, mask: Tensor) -> PathScores:
        """As `SequenceTagger.path_scores`, with the mean CRF."""
        return path_scores(self.crf, emissions, mask)


def _labels(info: ModelInfo) -> str:
    """A model's labels and scheme, in short."""
    shown = ", ".join(info.vocab.labels[:4]) + (", ..." if len(info.vocab.labels) > 4 else "")
    return f"{len(info.vocab.labels)} labels ({shown}) in {info.scheme or 'no scheme'}"


def _mean_crf(crfs: list[CRF]) -> CRF:
    """A CRF with the mean of `crfs`' transition, start and end scores, allowing only the
    moves that all of them allow."""
    mean = copy.deepcopy(crfs[0])
    with torch.no_grad():
        for name in ("transitions", "start_transitions", "end_transitions"):
            # (members, ...) the members' scores
            stacked = torch.stack([getattr(crf, name) for crf in crfs])
            getattr(mean, name).copy_(stacked.mean(dim=0))
        for name in ("allowed_start", "allowed", "allowed_end"):
            for crf in crfs[1:]:
                getattr(mean, name).logical_and_(getattr(crf, name))
    return mean
