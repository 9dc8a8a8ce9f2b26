"""The network: word embeddings with character and byte-pair front ends, a stacked
bidirectional RNN (`rnntag.model.birnn`), a linear layer of emission scores, with a document
memory where the model has one (`rnntag.model.document_memory`), and a CRF or softmax
decoder.

References: Huang et al. 2015 (BiLSTM-CRF); Lample et al. 2016 (character BiLSTM);
Ma & Hovy 2016 (character CNN).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnntag.model.birnn import BiRNN, SequenceDropout, in_length_pieces
from rnntag.model.config import ModelConfig
from rnntag.model.crf import CRF, PathScores
from rnntag.model.document_memory import batch_scores
from rnntag.model.encode import PAD_INDEX, Batch
from rnntag.model.vocab import CASINGS

_RNNS: dict[str, Callable[..., nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


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


class SequenceTagger(nn.Module):
    """BiRNN tagger with a CRF or softmax output layer: `forward` gives emission scores,
    through `features` and `states`; `loss` trains; `decode` and `path_scores` read the
    scores. Batching, caching and pooling over whole inputs belong to `rnntag.tagging`.

    Args:
        config: Architecture.
        num_words: Word vocabulary size.
        num_chars: Character vocabulary size.
        num_pieces: Byte-pair piece vocabulary size; 0 without pieces.
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
        # With a document memory, each token's state is joined by its memory: the mean state
        # of its group's other tokens and a flag (see `rnntag.model.document_memory`).
        memory = state_size + 1 if config.doc_memory == "on" else 0
        self.emissions = nn.Linear(state_size + memory, num_tags)
        self.crf = CRF(num_tags, allowed) if config.decoder == "crf" else None

    def forward(self, batch: Batch) -> Tensor:
        """Emission scores.

        Args:
            batch: Padded input; with a document memory, holding its documents whole.

        Returns:
            (batch, seq_len, num_tags) scores; rows at padded positions are meaningless.
        """
        # (batch, seq_len, state_size)
        states = self.states(self.features(batch), batch.mask, batch.padded)
        if self.config.doc_memory != "on":
            # (batch, seq_len, num_tags)
            return self.emissions(states)
        assert batch.groups is not None
        # (batch, seq_len, num_tags)
        return batch_scores(self.emissions, states, batch.mask, batch.groups)

    def features(self, batch: Batch) -> Tensor:
        """Each token's input to the RNN: its word embedding joined with its sub-word and
        casing features. Outside training these depend on the word form alone, which lets
        tagging keep them per form (`rnntag.tagging.predict.FeatureCache`).

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

    def states(self, features: Tensor, mask: Tensor, padded: bool = True) -> Tensor:
        """The RNN's states over token features: what the output layer and the document
        memory (`rnntag.model.document_memory`) read.

        Args:
            features: (batch, seq_len, input_size) token features (see `features`).
            mask: (batch, seq_len) boolean.
            padded: False when every sentence fills the whole batch.

        Returns:
            (batch, seq_len, state_size) states; rows at padded positions are meaningless.
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

    def decode(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Best tags: Viterbi with the CRF, per-token arg-max with softmax.

        Args:
            emissions: (batch, seq_len, num_tags) scores (see `forward`).
            mask: (batch, seq_len) boolean.

        Returns:
            (batch, seq_len) tag indices, 0 at padded positions.
        """
        return decode(self.crf, emissions, mask)

    def path_scores(self, emissions: Tensor, mask: Tensor) -> PathScores:
        """The best tags with their marginals (see `CRF.path_scores`); under a softmax
        decoder a stretch's probability is the product of its tokens'.

        Args:
            emissions: (batch, seq_len, num_tags) scores (see `forward`).
            mask: (batch, seq_len) boolean.

        Returns:
            The scores along each sentence's best path.
        """
        return path_scores(self.crf, emissions, mask)


def decode(crf: CRF | None, emissions: Tensor, mask: Tensor) -> Tensor:
    """`SequenceTagger.decode` with the given CRF, or none for a softmax decoder."""
    if crf is not None:
        return crf.decode(emissions, mask)[1]
    # (batch, seq_len)
    return torch.where(mask, emissions.argmax(dim=2), 0)


def path_scores(crf: CRF | None, emissions: Tensor, mask: Tensor) -> PathScores:
    """`SequenceTagger.path_scores` with the given CRF, or none for a softmax decoder."""
    if crf is not None:
        return crf.path_scores(emissions, mask)
    # (batch, seq_len, num_tags)
    log_p = torch.log_softmax(emissions, dim=2)
    # (batch, seq_len)
    best = torch.where(mask, log_p.argmax(dim=2), 0)
    # (batch, seq_len)
    token = log_p.gather(2, best.unsqueeze(2)).squeeze(2)
    # (batch, seq_len)
    cumulative = token.cumsum(dim=1)
    return PathScores(best, token, cumulative, token, torch.zeros_like(token))
