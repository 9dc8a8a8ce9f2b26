"""The document memory: each token whose group has other tokens (a name's other occurrences
in its document; see `rnntag.model.documents`) is scored with, beside its own RNN state,
the mean state of those others and a flag saying that there are any. The output layer reads
the three joined, (2 * state_size + 1) inputs; for a token alone the mean and the flag are 0.

The computation has two phases, so that a document spread over many batches (tagging
batches sentences by length, not by document) is pooled whole:

1. `DocumentMemory.add`, once per batch: the batch's scores without the memory, and the
   states of the tokens whose group has others;
2. `DocumentMemory.scores`, once every batch of the documents is added: the states pooled
   per group, and each batch's scores with the memory's share added.

The network's forward pass is one batch of whole documents through both phases
(`batch_scores`); `rnntag.tagging.predict` adds every batch of an input; the ONNX export
computes phase 1's scores in its graph, and its runtime runs both phases with
`NumpyDocumentMemory`, the numpy twin. The runtime must work in a process without torch, so
this module imports torch only inside the functions that run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rnntag.model.documents import document_groups

if TYPE_CHECKING:
    from torch import Tensor, nn


class TokenGroups:
    """Every token's group over a whole input, looked up for each batch of its sentences:
    group numbers that hold across batches, so that phase 2 pools a document whole.

    Args:
        sentences: Tokens of each sentence, none empty.
        documents: Each sentence's document (see `document_groups`), or None.
    """

    def __init__(self, sentences: Sequence[Sequence[str]], documents: Sequence[int | None] | None):
        # (tokens,) each, in input order
        self.groups = np.asarray(document_groups(sentences, documents))
        self.shared = np.bincount(self.groups)[self.groups] > 1
        # (sentences,) each: a sentence's length, and where it starts among the tokens
        self.lengths = np.asarray([len(s) for s in sentences])
        self.starts = np.cumsum(self.lengths) - self.lengths

    def batch(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The groups of a batch of sentences, padded as any batch is: each sentence
        left-aligned, to the longest one's length.

        Args:
            indices: The batch's sentences, by number.

        Returns:
            (batch, seq_len) group numbers, meaningless at padding, and the (batch, seq_len)
            boolean mask of the tokens whose group has others.
        """
        # (batch,)
        lengths = self.lengths[indices]
        # (batch, seq_len)
        mask = np.arange(lengths.max()) < lengths[:, None]
        # (batch, seq_len): each token's position among all, 0 at padding
        where = np.where(mask, self.starts[indices][:, None] + np.arange(mask.shape[1]), 0)
        # (batch, seq_len) each
        return self.groups[where], mask & self.shared[where]


def shared_tokens(groups: Tensor, mask: Tensor) -> Tensor:
    """Which tokens of a batch holding whole documents share their group with another.

    Args:
        groups: (batch, seq_len) group numbers (see `Batch.groups`), none negative.
        mask: (batch, seq_len) boolean.

    Returns:
        (batch, seq_len) boolean, False at padding.
    """
    # (real tokens,): padding, whatever its numbers, counts in no group
    real = groups[mask]
    # (batch, seq_len): most tokens are alone (a name recurs; lower-case words never share)
    return mask.masked_scatter(mask, real.bincount()[real] > 1)


def others_mean(states: Tensor, groups: Tensor) -> Tensor:
    """Each token's memory: the mean state of the other tokens of its group.

    Args:
        states: (shared, size) states of every member of some groups of more than one
            token (see `shared_tokens`).
        groups: (shared,) their group numbers.

    Returns:
        (shared, size) the means.
    """
    # (shared,), (groups,): numbered from 0, so that the sums take no more rows than needed
    _, dense, members = groups.unique(return_inverse=True, return_counts=True)
    # (groups, size)
    sums = states.new_zeros(members.numel(), states.size(1)).index_add_(0, dense, states)
    # (shared, 1)
    others = (members[dense] - 1).unsqueeze(1).to(states.dtype)
    # (shared, size)
    return (sums[dense] - states) / others


def state_scores(layer: nn.Linear, states: Tensor) -> Tensor:
    """The share of the emission scores that reads the states: the scores of a token alone.

    Args:
        layer: The output layer over state, memory and flag.
        states: (batch, seq_len, state_size) RNN states.

    Returns:
        (batch, seq_len, num_tags) scores.
    """
    from torch import nn

    # (num_tags, state_size); a contiguous copy of the slice multiplies faster
    weight = layer.weight[:, : states.size(-1)].contiguous()
    # (batch, seq_len, num_tags)
    return nn.functional.linear(states, weight, layer.bias)


def memory_weights(layer: nn.Linear) -> tuple[Tensor, Tensor]:
    """The output layer's columns that read the memory, of its (2 * state_size + 1) inputs:
    state, mean, flag.

    Args:
        layer: The output layer.

    Returns:
        (num_tags, state_size) weights of the mean and (num_tags,) of the flag.
    """
    size = (layer.in_features - 1) // 2
    # (num_tags, state_size), (num_tags,)
    return layer.weight[:, size:-1], layer.weight[:, -1]


class DocumentMemory:
    """Emission scores with a document memory, in two phases (see the module's docstring):
    `add` each batch, then take every batch's `scores`.

    Args:
        layer: The output layer over state, memory and flag.
    """

    def __init__(self, layer: nn.Linear):
        self.layer = layer
        # Each batch's scores without the memory, and the rows and columns of its kept tokens
        self.batches: list[tuple[Tensor, Tensor, Tensor]] = []
        # Each batch's (kept, state_size) states and (kept,) groups
        self.states: list[Tensor] = []
        self.groups: list[Tensor] = []

    def add(self, states: Tensor, keep: Tensor, groups: Tensor) -> None:
        """Phase 1: a batch's states.

        Args:
            states: (batch, seq_len, state_size) RNN states.
            keep: (batch, seq_len) boolean: the tokens whose group has others in the whole
                input (see `shared_tokens` and `TokenGroups`).
            groups: (batch, seq_len) group numbers, which hold across batches.
        """
        # (kept,) each
        rows, columns = keep.nonzero().unbind(1)
        # (kept, state_size) and (kept,); only these states wait for phase 2
        self.states.append(states[rows, columns])
        self.groups.append(groups[rows, columns])
        # (batch, seq_len, num_tags)
        self.batches.append((state_scores(self.layer, states), rows, columns))

    def scores(self) -> list[Tensor]:
        """Phase 2, once every batch of the documents is added.

        Returns:
            Each batch's (batch, seq_len, num_tags) emission scores, in the order added;
            rows at padded positions are meaningless.
        """
        import torch

        # (kept, state_size)
        mean = others_mean(torch.cat(self.states), torch.cat(self.groups))
        # (num_tags, state_size), (num_tags,)
        weight, flag = memory_weights(self.layer)
        # (kept, num_tags): the output layer over the memory, its flag 1
        extra = torch.nn.functional.linear(mean, weight, flag)
        # Each token is kept once, so adding by index is the output layer over all joined.
        return [
            scores.index_put((rows, columns), mine, accumulate=True)
            for (scores, rows, columns), mine in zip(
                self.batches, extra.split([len(rows) for _, rows, _ in self.batches]), strict=True
            )
        ]


def batch_scores(layer: nn.Linear, states: Tensor, mask: Tensor, groups: Tensor) -> Tensor:
    """Both phases over one batch that holds its documents whole.

    Args:
        layer: The output layer over state, memory and flag.
        states: (batch, seq_len, state_size) RNN states.
        mask: (batch, seq_len) boolean.
        groups: (batch, seq_len) group numbers (see `Batch.groups`).

    Returns:
        (batch, seq_len, num_tags) emission scores; rows at padded positions are meaningless.
    """
    memory = DocumentMemory(layer)
    memory.add(states, shared_tokens(groups, mask), groups)
    # (batch, seq_len, num_tags)
    return memory.scores()[0]


class NumpyDocumentMemory:
    """`DocumentMemory` in numpy, for the ONNX runtime, whose graph gives each batch's scores
    without the memory (`state_scores`) with its states.

    Args:
        weight: (num_tags, state_size) the output layer's weights of the mean (see
            `memory_weights`).
        flag: (num_tags,) its weights of the flag.
    """

    def __init__(self, weight: np.ndarray, flag: np.ndarray):
        self.weight, self.flag = weight, flag
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.states: list[np.ndarray] = []
        self.groups: list[np.ndarray] = []

    def add(
        self, scores: np.ndarray, states: np.ndarray, keep: np.ndarray, groups: np.ndarray
    ) -> None:
        """Phase 1: a batch's scores without the memory and its states.

        Args:
            scores: (batch, seq_len, num_tags) `state_scores`.
            states: (batch, seq_len, state_size) RNN states.
            keep: (batch, seq_len) boolean, as for `DocumentMemory.add`.
            groups: (batch, seq_len) group numbers, which hold across batches.
        """
        # (kept,) each
        rows, columns = np.nonzero(keep)
        # (kept, state_size) and (kept,)
        self.states.append(states[rows, columns])
        self.groups.append(groups[rows, columns])
        self.batches.append((scores, rows, columns))

    def scores(self) -> list[np.ndarray]:
        """Phase 2 (see `DocumentMemory.scores`).

        Returns:
            Each batch's (batch, seq_len, num_tags) emission scores, in the order added.
        """
        # (kept, state_size) and (kept,)
        states, groups = np.concatenate(self.states), np.concatenate(self.groups)
        # (kept,), (groups,): numbered from 0, as in `others_mean`
        _, dense, members = np.unique(groups, return_inverse=True, return_counts=True)
        # (groups, state_size)
        sums = np.zeros((len(members), states.shape[1]), states.dtype)
        np.add.at(sums, dense, states)
        # (kept, state_size): the mean state of each token's group's others
        mean = (sums[dense] - states) / (members[dense] - 1)[:, None]
        # (kept, num_tags) in pieces, one per batch
        extra = np.split(
            mean @ self.weight.T + self.flag, np.cumsum([len(b[1]) for b in self.batches])[:-1]
        )
        found = []
        for (scores, rows, columns), mine in zip(self.batches, extra, strict=True):
            # (batch, seq_len, num_tags)
            scores = scores.copy()
            scores[rows, columns] += mine
            found.append(scores)
        return found
