"""The network: word embeddings with character and byte-pair front ends, a stacked
bidirectional RNN, a linear layer of emission scores, and a CRF or softmax decoder.

References: Huang et al. 2015 (BiLSTM-CRF); Lample et al. 2016 (character BiLSTM);
Ma & Hovy 2016 (character CNN); Elman 1990; Hochreiter & Schmidhuber 1997; Cho et al. 2014.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnntag.model.config import ModelConfig
from rnntag.model.crf import CRF, PathScores
from rnntag.model.encode import PAD_INDEX, Batch
from rnntag.model.vocab import CASINGS

_RNNS: dict[str, Callable[..., nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# Sentences per piece when `in_length_pieces` cuts a batch, and the share of its padded area
# the pieces must save: below these, one call over the whole batch is faster on the CPU.
PIECE_SENTENCES = 8
PIECE_SAVING = 0.3


class CharCNN(nn.Module):
    """Character CNN with max-pooling over the word (Ma & Hovy 2016).

    Args:
        num_chars: Character vocabulary size.
        char_dim: Character embedding size.
        filters: Number of convolution filters, the output size.
        kernel: Window width in characters.
    """

    def __init__(self, num_chars: int, char_dim: int, filters: int, kernel: int):
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=PAD_INDEX)
        self.conv = nn.Conv1d(char_dim, filters, kernel, padding=kernel // 2)

    def forward(self, chars: Tensor) -> Tensor:
        """Args: chars (words, word_len). Returns: (words, filters)."""
        # (words, char_dim, word_len)
        embedded = self.embed(chars).transpose(1, 2)
        # (words, filters, conv_len); an even kernel makes conv_len one longer than word_len
        features = self.conv(embedded)[:, :, : chars.size(1)]
        # (words, 1, word_len)
        real = (chars != PAD_INDEX).unsqueeze(1)
        # (words, filters)
        pooled = torch.where(real, features, float("-inf")).amax(dim=2)
        # (words, filters): a word without characters (an empty token) has no maximum
        return torch.where(real.any(dim=2), pooled, 0.0)


class SymbolBiLSTM(nn.Module):
    """BiLSTM over a word's characters or byte-pair pieces whose final forward and backward
    states represent the word (Lample et al. 2016).

    Args:
        num_symbols: Character or piece vocabulary size.
        symbol_dim: Symbol embedding size.
        output_size: Output size, split evenly between the two directions.
    """

    def __init__(self, num_symbols: int, symbol_dim: int, output_size: int):
        super().__init__()
        self.embed = nn.Embedding(num_symbols, symbol_dim, padding_idx=PAD_INDEX)
        self.lstm = nn.LSTM(symbol_dim, output_size // 2, batch_first=True, bidirectional=True)

    def forward(self, symbols: Tensor) -> Tensor:
        """Args: symbols (words, word_len). Returns: (words, output_size // 2 * 2)."""
        # (words,)
        lengths = (symbols != PAD_INDEX).sum(dim=1).clamp(min=1)
        # (words, word_len, symbol_dim)
        embedded = self.embed(symbols)
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        # (2, words, output_size // 2)
        _, (final, _) = self.lstm(packed)
        # (words, output_size // 2 * 2)
        return torch.cat([final[0], final[1]], dim=1)


class SymbolMean(nn.Module):
    """Mean of the embeddings of a word's byte-pair pieces.

    Args:
        num_symbols: Piece vocabulary size.
        symbol_dim: Piece embedding size, the output size.
    """

    def __init__(self, num_symbols: int, symbol_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_symbols, symbol_dim, padding_idx=PAD_INDEX)

    def forward(self, symbols: Tensor) -> Tensor:
        """Args: symbols (words, word_len). Returns: (words, symbol_dim)."""
        # (words, 1)
        counts = (symbols != PAD_INDEX).sum(dim=1, keepdim=True).clamp(min=1)
        # (words, symbol_dim); the padding row of the embedding is zero
        return self.embed(symbols).sum(dim=1) / counts


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


def in_shared_group(groups: Tensor) -> Tensor:
    """Whether each token's group has other tokens (a name's other occurrences in the
    document).

    Args:
        groups: (tokens,) group numbers, none negative.

    Returns:
        (tokens,) boolean.
    """
    # (groups,): most tokens are alone (a name recurs; lower-case words never share)
    members = torch.bincount(groups)
    # (tokens,)
    return members[groups] > 1


def others_mean(states: Tensor, groups: Tensor) -> Tensor:
    """Each token's memory: the mean state of the other tokens of its group.

    Args:
        states: (shared, size) states of every member of some groups of more than one
            token (see `in_shared_group`).
        groups: (shared,) their group numbers.

    Returns:
        (shared, size) the means.
    """
    # (shared,), (groups,): numbered from 0, so that the sums take no more rows than needed
    _, dense, members = torch.unique(groups, return_inverse=True, return_counts=True)
    # (groups, size)
    sums = states.new_zeros(members.numel(), states.size(1)).index_add_(0, dense, states)
    # (shared, 1)
    others = (members[dense] - 1).unsqueeze(1).to(states.dtype)
    # (shared, size)
    return (sums[dense] - states) / others


class SequenceTagger(nn.Module):
    """BiRNN tagger with a CRF or softmax output layer.

    Args:
        config: Architecture.
        num_words: Word vocabulary size.
        num_chars: Character vocabulary size.
        num_tags: Number of tags.
        allowed: The CRF's allowed (start, transition, end) moves; all when None.
    """

    def __init__(
        self,
        config: ModelConfig,
        num_words: int,
        num_chars: int,
        num_pieces: int,
        num_tags: int,
        allowed: tuple[Tensor, Tensor, Tensor] | None = None,
    ):
        super().__init__()
        self.config = config
        self.word_embed = nn.Embedding(num_words, config.word_dim, padding_idx=PAD_INDEX)
        self.chars: nn.Module | None = None
        self.pieces: nn.Module | None = None
        word_size = config.word_dim
        if config.char_encoder == "cnn":
            self.chars = CharCNN(num_chars, config.char_dim, config.char_hidden, config.char_kernel)
            word_size += config.char_hidden
        elif config.char_encoder == "lstm":
            self.chars = SymbolBiLSTM(num_chars, config.char_dim, config.char_hidden)
            word_size += config.char_hidden // 2 * 2
        if config.subword == "bpe" and config.bpe_pool == "lstm":
            self.pieces = SymbolBiLSTM(num_pieces, config.bpe_dim, config.bpe_hidden)
            word_size += config.bpe_hidden // 2 * 2
        elif config.subword == "bpe":
            self.pieces = SymbolMean(num_pieces, config.bpe_dim)
            word_size += config.bpe_dim
        self.case_embed: nn.Embedding | None = None
        if config.case_dim > 0:
            self.case_embed = nn.Embedding(len(CASINGS), config.case_dim, padding_idx=PAD_INDEX)
            word_size += config.case_dim
        self.dropout = SequenceDropout(config.dropout, config.locked_dropout)
        self.rnn = BiRNN(
            _RNNS[config.rnn],
            word_size,
            config.hidden_size,
            config.num_layers,
            config.dropout,
            config.locked_dropout,
            config.merge,
        )
        state_size = self.rnn.output_size
        # With a document memory, each token's state is joined by its memory (see
        # `scores_with_memory`).
        memory = state_size + 1 if config.doc_memory == "on" else 0
        self.emissions = nn.Linear(state_size + memory, num_tags)
        self.crf = CRF(num_tags, allowed) if config.decoder == "crf" else None

    def forward(self, batch: Batch) -> Tensor:
        """Emission scores.

        Args:
            batch: Padded input.

        Returns:
            (batch, seq_len, num_tags) scores; rows at padded positions are meaningless.
        """
        return self.score_features(
            self.token_features(batch), batch.mask, batch.padded, batch.groups
        )

    def token_features(self, batch: Batch) -> Tensor:
        """Each token's input to the RNN: its word embedding joined with its sub-word and
        casing features. Outside training these depend on the word form alone.

        Args:
            batch: Padded input.

        Returns:
            (batch, seq_len, input_size) features.
        """
        # (batch, seq_len, word_dim)
        parts = [self.word_embed(batch.words)]
        if self.chars is not None:
            # (unique_words, char_size) -> (batch, seq_len, char_size)
            parts.append(self.chars(batch.chars)[batch.unique_index])
        if self.pieces is not None:
            assert batch.pieces is not None
            # (unique_words, piece_size) -> (batch, seq_len, piece_size)
            parts.append(self.pieces(batch.pieces)[batch.unique_index])
        if self.case_embed is not None:
            assert batch.casing is not None
            # (batch, seq_len, case_dim)
            parts.append(self.case_embed(batch.casing))
        # (batch, seq_len, input_size)
        return torch.cat(parts, dim=2)

    def score_features(
        self, features: Tensor, mask: Tensor, padded: bool = True, groups: Tensor | None = None
    ) -> Tensor:
        """Emission scores from token features (see `token_features`).

        Args:
            features: (batch, seq_len, input_size).
            mask: (batch, seq_len) boolean.
            padded: False when every sentence fills the whole batch.
            groups: (batch, seq_len) document groups (see `Batch.groups`), for a model with
                a document memory.

        Returns:
            (batch, seq_len, num_tags) scores; rows at padded positions are meaningless.
        """
        # (batch, seq_len, state_size)
        encoded = self.encode(features, mask, padded)
        if self.config.doc_memory != "on":
            # (batch, seq_len, num_tags)
            return self.emissions(encoded)
        assert groups is not None
        # (shared,) each: the tokens whose group has others
        rows, columns = mask.nonzero()[in_shared_group(groups[mask])].unbind(1)
        # (shared, state_size)
        mean = others_mean(encoded[rows, columns], groups[rows, columns])
        # (batch, seq_len, num_tags)
        return self.scores_with_memory(encoded, rows, columns, mean)

    def scores_with_memory(
        self, states: Tensor, rows: Tensor, columns: Tensor, mean: Tensor
    ) -> Tensor:
        """Emission scores with a document memory. The output layer reads each token's state
        joined by its memory: the mean state of its group's other tokens and a flag saying
        whether there are any, both 0 for a token alone; so the memory's share
        (`memory_scores`) is added to the states' (`state_scores`) only where it is not 0.

        Args:
            states: (batch, seq_len, state_size) RNN states.
            rows: (shared,) batch rows of the tokens whose group has others.
            columns: (shared,) their positions in those rows.
            mean: (shared, state_size) the mean state of those others (see
                `others_mean`).

        Returns:
            (batch, seq_len, num_tags) scores; rows at padded positions are meaningless.
        """
        # (batch, seq_len, num_tags)
        scores = self.state_scores(states)
        return scores.index_put((rows, columns), self.memory_scores(mean), accumulate=True)

    def state_scores(self, states: Tensor) -> Tensor:
        """The share of a memory model's emission scores that reads the states (see
        `scores_with_memory`): the scores of a token alone.

        Args:
            states: (batch, seq_len, state_size) RNN states.

        Returns:
            (batch, seq_len, num_tags) scores.
        """
        # (num_tags, state_size); a contiguous copy of the slice multiplies faster
        weight = self.emissions.weight[:, : states.size(-1)].contiguous()
        # (batch, seq_len, num_tags)
        return nn.functional.linear(states, weight, self.emissions.bias)

    def memory_scores(self, mean: Tensor) -> Tensor:
        """The share of a memory model's emission scores that reads the memory (see
        `scores_with_memory`), its flag 1.

        Args:
            mean: (shared, state_size) memories.

        Returns:
            (shared, num_tags) scores.
        """
        size = mean.size(1)
        # (num_tags, 2 * size + 1): state, mean, flag
        weight = self.emissions.weight
        # (shared, num_tags)
        return nn.functional.linear(mean, weight[:, size:-1], weight[:, -1])

    def encode(self, features: Tensor, mask: Tensor, padded: bool = True) -> Tensor:
        """The RNN's states over token features, as `score_features` passes them on to the
        document memory and the output layer.

        Args:
            features: (batch, seq_len, input_size).
            mask: (batch, seq_len) boolean.
            padded: False when every sentence fills the whole batch.

        Returns:
            (batch, seq_len, state_size) states.
        """
        # (batch, seq_len, input_size)
        dropped = self.dropout(features)
        if padded and self.training and dropped.device.type == "cpu":
            # Training batches of whole documents mix lengths; cutting them pays on the CPU.
            # (batch, seq_len, state_size)
            return self.dropout(in_length_pieces(self.rnn, dropped, mask))
        # (batch, seq_len, state_size)
        return self.dropout(self.rnn(dropped, mask, padded))

    def loss(self, batch: Batch) -> Tensor:
        """Negative log-likelihood (CRF) or cross-entropy (softmax), summed over each sentence
        and averaged over the batch; of the scored tokens' gold tags only, where the batch
        says which (`Batch.scored`).

        Args:
            batch: Padded input with gold tags.

        Returns:
            () scalar loss.
        """
        assert batch.tags is not None
        # (batch, seq_len, num_tags)
        scores = self(batch)
        if self.crf is not None:
            return -self.crf(scores, batch.tags, batch.mask, batch.scored).mean()
        # (batch, seq_len)
        token_loss = nn.functional.cross_entropy(
            scores.transpose(1, 2), batch.tags, reduction="none"
        )
        # (batch, seq_len)
        counted = batch.mask if batch.scored is None else batch.mask & batch.scored
        return torch.where(counted, token_loss, 0.0).sum() / batch.mask.size(0)

    def decode(self, batch: Batch) -> Tensor:
        """Best tags: Viterbi with the CRF, per-token arg-max with softmax.

        Args:
            batch: Padded input.

        Returns:
            (batch, seq_len) tag indices, 0 at padded positions.
        """
        return self.best_tags(self(batch), batch.mask)

    def best_tags(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Best tags for emission scores (see `decode`).

        Args:
            emissions: (batch, seq_len, num_tags) scores.
            mask: (batch, seq_len) boolean.

        Returns:
            (batch, seq_len) tag indices, 0 at padded positions.
        """
        if self.crf is not None:
            return self.crf.decode(emissions, mask)[1]
        # (batch, seq_len)
        return torch.where(mask, emissions.argmax(dim=2), 0)

    def path_scores(self, emissions: Tensor, mask: Tensor) -> PathScores:
        """The best tags with their marginals (see `CRF.path_scores`); under a softmax
        decoder a stretch's probability is the product of its tokens'.

        Args:
            emissions: (batch, seq_len, num_tags) scores.
            mask: (batch, seq_len) boolean.

        Returns:
            The scores along each sentence's best path.
        """
        if self.crf is not None:
            return self.crf.path_scores(emissions, mask)
        # (batch, seq_len, num_tags)
        log_p = torch.log_softmax(emissions, dim=2)
        # (batch, seq_len)
        best = torch.where(mask, log_p.argmax(dim=2), 0)
        # (batch, seq_len)
        token = log_p.gather(2, best.unsqueeze(2)).squeeze(2)
        # (batch, seq_len)
        cumulative = token.cumsum(dim=1)
        return PathScores(best, token, cumulative, token, torch.zeros_like(token))
