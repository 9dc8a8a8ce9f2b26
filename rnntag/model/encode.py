"""Turning sentences of strings into padded index tensors, and grouping them by length."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnntag.model.config import ModelConfig, Vocabularies
from rnntag.model.documents import document_groups
from rnntag.model.subword import PieceCache, load_bpe
from rnntag.model.vocab import Vocab, casing, clip_word, ranked, word_key

PAD_INDEX = 0
UNK_INDEX = 1
# Distinct word forms remembered by an encoder before it forgets them all.
CACHE_LIMIT = 100_000


@dataclass
class Batch:
    """Padded tensors for a batch of sentences.

    Attributes:
        words: (batch, seq_len) word indices.
        mask: (batch, seq_len) True at real tokens.
        chars: (num_unique_words, word_len) character indices of each distinct token.
        unique_index: (batch, seq_len) row of `chars` and `pieces` for each token.
        pieces: (num_unique_words, num_pieces) byte-pair piece indices, or None.
        tags: (batch, seq_len) gold tag indices, or None.
        casing: (batch, seq_len) casing pattern of each token (see `casing`), or None.
        padded: False when every sentence is as long as the batch (nothing to mask).
        groups: (batch, seq_len) group of each token for a document memory (see
            `document_groups`), numbered within the batch, or None.
        scored: (batch, seq_len) True at the tokens whose gold tags the loss scores, where
            some are not (the context of a window of a long sentence), else None.
    """

    words: Tensor
    mask: Tensor
    chars: Tensor
    unique_index: Tensor
    pieces: Tensor | None = None
    tags: Tensor | None = None
    casing: Tensor | None = None
    padded: bool = True
    groups: Tensor | None = None
    scored: Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        """The same batch on `device`."""
        return Batch(
            self.words.to(device),
            self.mask.to(device),
            self.chars.to(device),
            self.unique_index.to(device),
            None if self.pieces is None else self.pieces.to(device),
            None if self.tags is None else self.tags.to(device),
            None if self.casing is None else self.casing.to(device),
            self.padded,
            None if self.groups is None else self.groups.to(device),
            None if self.scored is None else self.scored.to(device),
        )


class Encoder:
    """Maps tokens and tags to indices with a model's vocabularies.

    Args:
        vocab: The model's vocabularies.
        config: The model's architecture (digit normalisation, word length cap).
    """

    def __init__(self, vocab: Vocabularies, config: ModelConfig):
        self.words = Vocab(vocab.words)
        self.chars = Vocab(vocab.chars)
        self.labels = vocab.labels
        self.label_index = {label: i for i, label in enumerate(vocab.labels)}
        self.key = key_function(config)
        self.casing = config.case_dim > 0
        self.doc_memory = config.doc_memory == "on"
        self.max_word_chars = config.max_word_chars
        self.pieces = PieceCache(load_bpe(vocab.bpe)) if vocab.bpe is not None else None
        # Word forms follow Zipf's law: remembering the indices of the forms seen recently
        # makes encoding several times faster.
        self._word_cache: dict[str, int] = {}
        self._char_cache: dict[str, list[int]] = {}

    def word_id(self, token: str) -> int:
        """Word index of one token."""
        found = self._word_cache.get(token)
        if found is None:
            if len(self._word_cache) >= CACHE_LIMIT:
                self._word_cache.clear()
            found = self._word_cache[token] = self.words.lookup(self.key(token))
        return found

    def char_ids(self, token: str) -> list[int]:
        """Character indices of one token, clipped to the model's word length."""
        found = self._char_cache.get(token)
        if found is None:
            if len(self._char_cache) >= CACHE_LIMIT:
                self._char_cache.clear()
            clipped = clip_word(token, self.max_word_chars)
            found = self._char_cache[token] = self.chars.lookup_all(clipped)
        return found

    def word_ids(self, tokens: list[str]) -> list[int]:
        """Word indices of one sentence."""
        return [self.word_id(t) for t in tokens]

    def knows(self, token: str) -> bool:
        """Whether `token` has its own word embedding."""
        return self.words.lookup(self.key(token)) != UNK_INDEX

    def batch(
        self,
        sentences: Sequence[list[str]],
        tags: Sequence[list[str]] | None = None,
        documents: Sequence[int | None] | None = None,
    ) -> Batch:
        """Pad a list of sentences into a `Batch`.

        Args:
            sentences: Tokens of each sentence, none empty.
            tags: Gold tags of each sentence, all in the label vocabulary.
            documents: Each sentence's document, for a model with a document memory.

        Returns:
            The batch on the CPU.
        """
        lengths = [len(s) for s in sentences]
        # Every distinct token is looked up once; its rows are then copied by tensor indexing.
        rows: dict[str, int] = {}
        unique_index = _pad([rows.setdefault(t, len(rows)) for s in sentences for t in s], lengths)
        unique = list(rows)
        # (batch, seq_len)
        mask = torch.arange(unique_index.size(1)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        # (batch, seq_len)
        words = torch.where(
            mask, torch.tensor([self.word_id(w) for w in unique])[unique_index], PAD_INDEX
        )
        chars = _pad_rows([self.char_ids(word) for word in unique])
        pieces = None
        if self.pieces is not None:
            pieces = _pad_rows(
                self.pieces.pieces([clip_word(w, self.max_word_chars) for w in unique])
            )
        gold = None
        if tags is not None:
            gold = _pad(
                [self.label_index[t] for sentence_tags in tags for t in sentence_tags], lengths
            )
        cases = None
        if self.casing:
            cases = torch.where(
                mask, torch.tensor([casing(w) for w in unique])[unique_index], PAD_INDEX
            )
        padded = min(lengths) < max(lengths)
        groups = self.groups(sentences, documents) if self.doc_memory else None
        return Batch(words, mask, chars, unique_index, pieces, gold, cases, padded, groups)

    def groups(
        self, sentences: Sequence[list[str]], documents: Sequence[int | None] | None
    ) -> Tensor:
        """(batch, seq_len) `document_groups` of a batch's sentences, 0 at padding."""
        return _pad(document_groups(sentences, documents), [len(s) for s in sentences])


class EncodedSentences:
    """Tagged sentences encoded to index tensors once, from which training batches are cut
    with a few tensor operations and no Python work per token.

    Every distinct token (a form) is numbered; the characters and byte-pair pieces of each
    form are padded into one matrix, of which a batch takes the rows of its forms.

    Args:
        encoder: The model's encoder.
        sentences: Tokens of each sentence, none empty.
        tags: Gold tags of each sentence, all in the label vocabulary.
        documents: Each sentence's document, for a model with a document memory.
        scored: For each sentence, the (start, end) of the tokens whose gold tags the loss
            scores; all when None (see `rnntag.training.windows`).
    """

    def __init__(
        self,
        encoder: Encoder,
        sentences: Sequence[list[str]],
        tags: Sequence[list[str]],
        documents: Sequence[int | None] | None = None,
        scored: Sequence[tuple[int, int]] | None = None,
    ):
        forms: dict[str, int] = {}
        # (sentences,)
        self.lengths = torch.tensor([len(s) for s in sentences])
        # (sentences + 1,): where each sentence starts in the flat tensors, and their end
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), self.lengths.cumsum(0)])
        # (tokens,) each
        self.words = torch.tensor([i for s in sentences for i in encoder.word_ids(s)])
        self.forms = torch.tensor([forms.setdefault(t, len(forms)) for s in sentences for t in s])
        self.tags = torch.tensor([encoder.label_index[t] for labels in tags for t in labels])
        self.casing = None
        if encoder.casing:
            self.casing = torch.tensor([casing(t) for s in sentences for t in s])
        self.groups = self.alone_groups = None
        if encoder.doc_memory:
            self.groups = torch.tensor(document_groups(sentences, documents))
            # Each sentence its own document: what `batch` takes for sentences shown alone.
            self.alone_groups = torch.tensor(document_groups(sentences))
        self.scored = None
        if scored is not None:
            # (tokens,)
            self.scored = torch.tensor(
                [
                    a <= k < b
                    for s, (a, b) in zip(sentences, scored, strict=True)
                    for k in range(len(s))
                ]
            )
        # (forms, longest word) and (forms,)
        self.chars, self.char_lengths = _pad_with_lengths([encoder.char_ids(f) for f in forms])
        self.pieces = self.piece_lengths = None
        if encoder.pieces is not None:
            clipped = [clip_word(f, encoder.max_word_chars) for f in forms]
            self.pieces, self.piece_lengths = _pad_with_lengths(encoder.pieces.pieces(clipped))

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: Sequence[int], alone: Sequence[bool] | None = None) -> Batch:
        """The padded batch of the sentences at `indices`, as `Encoder.batch` makes it.

        Args:
            indices: Sentence numbers.
            alone: For a document memory, whether each sentence is shown as a document of
                its own rather than in its document; in its document when None.

        Returns:
            The batch on the CPU; its rows of `chars` are in form order, not first use.
        """
        chosen = torch.tensor(indices)
        # (batch,)
        lengths = self.lengths[chosen]
        # (batch, seq_len)
        mask = torch.arange(int(lengths.max())).unsqueeze(0) < lengths.unsqueeze(1)
        # (batch, seq_len): flat position of each token, 0 at padding
        positions = torch.where(mask, self.offsets[chosen].unsqueeze(1) + mask.cumsum(1) - 1, 0)
        # (unique_forms,) and (real tokens,)
        forms, inverse = torch.unique(self.forms[positions[mask]], return_inverse=True)
        # (batch, seq_len)
        unique_index = torch.zeros_like(positions).masked_scatter_(mask, inverse)
        chars = self.chars[forms, : int(self.char_lengths[forms].max())]
        pieces = None
        if self.pieces is not None and self.piece_lengths is not None:
            pieces = self.pieces[forms, : int(self.piece_lengths[forms].max())]
        casings = None
        if self.casing is not None:
            casings = torch.where(mask, self.casing[positions], PAD_INDEX)
        groups = None
        if self.groups is not None and self.alone_groups is not None:
            # (real tokens,) each token's group, in its document or with its sentence alone;
            # a document is shown whole or as sentences, so the two numberings never meet
            chosen_groups = self.groups[positions[mask]]
            if alone is not None and any(alone):
                # (batch, seq_len)
                alone_rows = torch.tensor(alone).unsqueeze(1).expand_as(mask)
                chosen_groups = torch.where(
                    alone_rows[mask], self.alone_groups[positions[mask]], chosen_groups
                )
            # (real tokens,) renumbered from 0 over the batch
            renumbered = torch.unique(chosen_groups, return_inverse=True)[1]
            # (batch, seq_len)
            groups = torch.zeros_like(positions).masked_scatter_(mask, renumbered)
        return Batch(
            torch.where(mask, self.words[positions], PAD_INDEX),
            mask,
            chars,
            unique_index,
            pieces,
            torch.where(mask, self.tags[positions], PAD_INDEX),
            casings,
            bool(lengths.min() < lengths.max()),
            groups,
            self._scored(positions, mask),
        )

    def _scored(self, positions: Tensor, mask: Tensor) -> Tensor | None:
        """(batch, seq_len) True at the tokens the loss scores, or None where all are."""
        if self.scored is None:
            return None
        # (batch, seq_len)
        scored = torch.where(mask, self.scored[positions], False)
        # Every token scored: the ordinary loss, exactly.
        return None if bool(scored[mask].all()) else scored


def _pad_with_lengths(rows: Sequence[list[int]]) -> tuple[Tensor, Tensor]:
    """`_pad(rows)` and the (len(rows),) length of each row."""
    return _pad_rows(rows), torch.tensor([len(r) for r in rows])


def _pad(flat: list[int], lengths: list[int]) -> Tensor:
    """(len(lengths), max(lengths)) indices of consecutive rows of `flat`, padded with
    `PAD_INDEX`."""
    values = torch.tensor(flat, dtype=torch.long)
    if min(lengths) == max(lengths):
        return values.view(len(lengths), lengths[0])
    # (batch, seq_len)
    real = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    padded = torch.full(real.shape, PAD_INDEX, dtype=torch.long)
    padded[real] = values
    return padded


def _pad_rows(rows: Sequence[list[int]]) -> Tensor:
    """(len(rows), longest row) indices, padded with `PAD_INDEX`."""
    return _pad([i for row in rows for i in row], [len(row) for row in rows])


def key_function(config: ModelConfig) -> Callable[[str], str]:
    """The function giving a word's vocabulary key under `config` (see `word_key`)."""
    return functools.partial(
        word_key, normalize_digits=config.normalize_digits, lowercase=config.lowercase
    )


def word_counts(sentences: Sequence[list[str]], config: ModelConfig) -> dict[str, int]:
    """How often each word key (see `word_key`) occurs."""
    counts: dict[str, int] = {}
    key_of = key_function(config)
    for tokens in sentences:
        for token in tokens:
            key = key_of(token)
            counts[key] = counts.get(key, 0) + 1
    return counts


def build_vocabularies(
    sentences: Sequence[list[str]], tags: Sequence[list[str]], config: ModelConfig
) -> Vocabularies:
    """Vocabularies of the training data: every word key, character and tag seen."""
    chars: dict[str, int] = {}
    for tokens in sentences:
        for token in tokens:
            for c in token:
                chars[c] = chars.get(c, 0) + 1
    return Vocabularies(
        words=ranked(word_counts(sentences, config)),
        chars=ranked(chars),
        labels=sorted({t for sentence_tags in tags for t in sentence_tags}),
    )


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random | None = None
) -> Iterator[list[int]]:
    """Group sentence indices into batches of similar length.

    Without `rng` the order is by length (for tagging); with it, sentences are shuffled, sorted
    by length within pools of 50 batches, and the batches come in random order (for training).

    Args:
        lengths: Length of each sentence.
        batch_size: Sentences per batch.
        rng: Random source for training order.

    Returns:
        An iterator over lists of sentence indices.
    """
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]
        return
    rng.shuffle(order)
    pool = 50 * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    yield from batches


def token_batches(lengths: Sequence[int], max_tokens: int) -> Iterator[list[int]]:
    """Group sentence indices for tagging: by length, each batch at most `max_tokens` padded
    tokens (or one sentence). A batch also ends where the length changes once it holds a
    quarter of `max_tokens`, so most batches hold sentences of one length and need no padding.

    Args:
        lengths: Length of each sentence.
        max_tokens: Largest batch, in sentences times the longest length.

    Returns:
        An iterator over lists of sentence indices, shortest sentences first.
    """
    batch: list[int] = []
    width = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        n = lengths[i]
        if batch and (
            (len(batch) + 1) * n > max_tokens
            or (n != width and len(batch) * width >= max_tokens // 4)
        ):
            yield batch
            batch = []
        batch.append(i)
        width = n
    if batch:
        yield batch
