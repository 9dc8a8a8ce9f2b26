"""Byte-pair pieces of words, learned and applied with the `tokenizers` library.

The learned model is kept as its JSON description inside the model's `config.json`, so a
model directory stays self-contained and loading it executes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rnntag.errors import RnntagError
from rnntag.model.vocab import PAD, UNK

# `tokenizers` is imported where it is used: only models with byte-pair pieces need it, and the
# others should not pay for its import at start-up.
if TYPE_CHECKING:
    from tokenizers import Tokenizer


def learn_bpe(words: Iterable[str], vocab_size: int) -> dict[str, Any]:
    """Learn byte-pair merges over word forms.

    Args:
        words: Training tokens, repeated as often as they occur (merges follow frequency).
        vocab_size: Largest number of pieces, `PAD` and `UNK` included (ids 0 and 1).

    Returns:
        The tokenizer's JSON description.
    """
    from tokenizers import Tokenizer, models, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, UNK], show_progress=False
    )
    tokenizer.train_from_iterator(words, trainer)
    return json.loads(tokenizer.to_str())


def load_bpe(description: dict[str, Any]) -> Tokenizer:
    """A tokenizer from its JSON description, checked to have `PAD` and `UNK` at 0 and 1."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_str(json.dumps(description))
    except Exception as exc:  # tokenizers raises plain Exception for malformed descriptions
        raise RnntagError(f"invalid byte-pair model: {exc}") from None
    if tokenizer.token_to_id(PAD) != 0 or tokenizer.token_to_id(UNK) != 1:
        raise RnntagError(f"byte-pair model must have {PAD} and {UNK} as pieces 0 and 1")
    return tokenizer


class PieceCache:
    """Piece ids of words, remembered up to a bound so repeated words cost nothing.

    Args:
        tokenizer: The byte-pair tokenizer.
        limit: Number of words remembered before the memory is cleared.
    """

    def __init__(self, tokenizer: Tokenizer, limit: int = 200_000):
        self.tokenizer = tokenizer
        self.limit = limit
        self.ids: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def pieces(self, words: list[str]) -> list[list[int]]:
        """The piece ids of each word (at least one per word)."""
        missing = [w for w in dict.fromkeys(words) if w not in self.ids]
        if missing:
            if len(self.ids) + len(missing) > self.limit:
                self.ids.clear()
            for word, encoding in zip(missing, self.tokenizer.encode_batch(missing), strict=True):
                self.ids[word] = encoding.ids or [1]
        return [self.ids[w] for w in words]
