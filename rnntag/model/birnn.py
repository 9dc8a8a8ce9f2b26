"""The stacked bidirectional RNN over left-aligned padded batches, the dropout between its
layers, and its run over a batch of ragged lengths in pieces of similar length.

References: Elman 1990; Hochreiter & Schmidhuber 1997; Cho et al. 2014; Gal & Ghahramani 2016
(locked dropout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

# Sentences per piece when `in_length_pieces` cuts a batch, and the share of its padded area
# the pieces must save: below these, one call over the whole batch is faster on the CPU.
PIECE_SENTENCES = 8
PIECE_SAVING = 0.3


class SequenceDropout(nn.Module):
    """Dropout over (batch, seq_len, features). Locked (variational) dropout drops the same
    features at every position of a sentence (Gal & Ghahramani 2016); otherwise each position
    draws its own mask.

    Args:
        p: Drop probability.
        locked: Share the mask across positions.
    """

    def __init__(self, p: float, locked: bool):
        super().__init__()
        self.p = p
        self.locked = locked

    def forward(self, inputs: Tensor) -> Tensor:
        """Args: inputs (batch, seq_len, features). Returns: the same shape."""
        if not self.training or self.p == 0.0:
            return inputs
        if not self.locked:
            # Uniform draws compared with p: on the CPU several times faster than the Bernoulli
            # draws of `nn.functional.dropout`, and the masks follow the same distribution.
            # (batch, seq_len, features)
            keep = torch.rand_like(inputs) >= self.p
            return inputs * keep / (1.0 - self.p)
        # (batch, 1, features)
        keep = torch.empty_like(inputs[:, :1]).bernoulli_(1.0 - self.p) / (1.0 - self.p)
        # (batch, seq_len, features)
        return inputs * keep


class BiRNN(nn.Module):
    """Stacked bidirectional RNN over left-aligned padded batches.

    Each direction is a unidirectional RNN run on the padded tensor; the backward one reads
    every sentence reversed within its own length. Real positions therefore never see
    padding, as with packed sequences, at the speed of the padded kernels (about twice that of
    packed ones on the CPU).

    Args:
        cell: `nn.LSTM`, `nn.GRU` or `nn.RNN`.
        input_size: Input features per token.
        hidden_size: Output features per direction.
        num_layers: Stacked layers.
        dropout: Dropout between layers.
        locked: Locked dropout between layers (see `SequenceDropout`).
        merge: How the top layer joins its directions: "concat", or the element-wise "sum"
            or "product", which halve the output. Lower layers always concatenate.
    """

    def __init__(
        self,
        cell: Callable[..., nn.RNNBase],
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        locked: bool = False,
        merge: str = "concat",
    ):
        super().__init__()
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(cell(n, hidden_size, batch_first=True) for n in sizes)
        self.backward_layers = nn.ModuleList(cell(n, hidden_size, batch_first=True) for n in sizes)
        self.dropout = SequenceDropout(dropout, locked)
        self.merge = merge
        self.output_size = 2 * hidden_size if merge == "concat" else hidden_size

    def forward(self, inputs: Tensor, mask: Tensor, padded: bool = True) -> Tensor:
        """Args: inputs (batch, seq_len, input_size); mask (batch, seq_len) boolean; padded:
        False when every sentence fills the whole batch, which then runs through torch's
        bidirectional kernel (the same numbers, faster).
        Returns: (batch, seq_len, output_size); concatenated, forward states first."""
        batch, seq_len = mask.shape
        if padded:
            # (seq_len,)
            positions = torch.arange(seq_len, device=mask.device)
            # (batch, seq_len): position t of the reversed sentence is position reverse[t]
            reverse = torch.where(mask, mask.sum(dim=1, keepdim=True) - 1 - positions, positions)
            # (batch * seq_len,): the same as rows of the flattened batch; selecting whole rows
            # is several times faster than a gather over every feature.
            rows = (
                reverse + seq_len * torch.arange(batch, device=mask.device).unsqueeze(1)
            ).flatten()
        # (batch, seq_len, features)
        states = inputs
        for depth, (ahead, back) in enumerate(
            zip(self.forward_layers, self.backward_layers, strict=True)
        ):
            if depth > 0:
                states = self.dropout(states)
            if not padded:
                # (batch, seq_len, 2 * hidden_size)
                states = _bidirectional(ahead, back, states)
                continue
            # (batch, seq_len, hidden_size)
            forward_states = ahead(states)[0]
            # (batch * seq_len, hidden_size): the backward RNN over each sentence reversed
            flat_backward = back(_rows(states, rows))[0].flatten(0, 1)
            # (batch, seq_len, hidden_size), reversed back
            backward_states = flat_backward.index_select(0, rows).view_as(forward_states)
            # (batch, seq_len, 2 * hidden_size)
            states = torch.cat([forward_states, backward_states], dim=2)
        if self.merge == "concat":
            return states
        # (batch, seq_len, hidden_size) each
        ahead_states, back_states = states.chunk(2, dim=2)
        if self.merge == "sum":
            # (batch, seq_len, hidden_size)
            return ahead_states + back_states
        # (batch, seq_len, hidden_size)
        return ahead_states * back_states


def _rows(states: Tensor, rows: Tensor) -> Tensor:
    """(batch, seq_len, features) states rearranged by source row of the flattened batch."""
    # (batch, seq_len, features)
    return states.flatten(0, 1).index_select(0, rows).view_as(states)


_KERNELS: dict[type[nn.RNNBase], Callable[..., Any]] = {
    nn.LSTM: torch.lstm,
    nn.GRU: torch.gru,
    nn.RNN: torch.rnn_tanh,
}


def in_length_pieces(
    rnn: BiRNN, inputs: Tensor, mask: Tensor, size: int = PIECE_SENTENCES
) -> Tensor:
    """`rnn` over a batch of ragged lengths (a document memory's batch of whole documents)
    cut into pieces of `size` sentences of similar length, each padded only to its own
    longest: the same states as one call over the batch for a fraction of the padding.

    Args:
        rnn: The BiRNN.
        inputs: (batch, seq_len, input_size).
        mask: (batch, seq_len) boolean.
        size: Sentences per piece.

    Returns:
        (batch, seq_len, output_size) states; rows at padded positions are meaningless.
    """
    lengths = mask.sum(dim=1).tolist()
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    pieces = [order[i : i + size] for i in range(0, len(order), size)]
    longest = [lengths[piece[0]] for piece in pieces]
    saving = 1 - sum(len(p) * n for p, n in zip(pieces, longest, strict=True)) / mask.numel()
    if len(pieces) == 1 or saving < PIECE_SAVING:
        # (batch, seq_len, output_size)
        return rnn(inputs, mask)
    states = []
    for piece, n in zip(pieces, longest, strict=True):
        rows = torch.tensor(piece, device=mask.device)
        # (piece, n)
        piece_mask = mask[rows, :n]
        # (piece, n, output_size)
        piece_states = rnn(inputs[rows, :n], piece_mask, not bool(piece_mask.all()))
        # (piece, seq_len, output_size)
        states.append(nn.functional.pad(piece_states, (0, 0, 0, mask.size(1) - n)))
    # (batch,): where each sentence of the batch is among the pieces' rows
    back = torch.tensor(order, device=mask.device).argsort()
    # (batch, seq_len, output_size)
    return torch.cat(states).index_select(0, back)


def _bidirectional(ahead: nn.Module, back: nn.Module, inputs: Tensor) -> Tensor:
    """Two one-layer unidirectional RNNs as one bidirectional layer, over unpadded inputs.

    Args:
        ahead: The forward RNN.
        back: The backward RNN, of the same kind and sizes.
        inputs: (batch, seq_len, input_size).

    Returns:
        (batch, seq_len, 2 * hidden_size), forward states first.
    """
    assert isinstance(ahead, nn.RNNBase) and isinstance(back, nn.RNNBase)
    # (2, batch, hidden_size)
    zeros = inputs.new_zeros(2, inputs.size(0), ahead.hidden_size)
    start: Any = (zeros, zeros) if isinstance(ahead, nn.LSTM) else zeros
    weights = [*ahead.all_weights[0], *back.all_weights[0]]
    # (batch, seq_len, 2 * hidden_size)
    return _KERNELS[type(ahead)](inputs, start, weights, True, 1, 0.0, False, True, True)[0]
