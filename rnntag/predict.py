"""Tagging with a trained model: batched by length, without autograd, in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import torch

from rnntag.config import ModelInfo
from rnntag.corpus import Sentence
from rnntag.encode import Encoder, length_batches
from rnntag.model import SequenceTagger
from rnntag.modelfile import load_model

BATCH_SIZE = 64
# Sentences read ahead and sorted by length at a time; bounds memory when streaming.
CHUNK_SIZE = 2048


def predict_tags(
    model: SequenceTagger,
    encoder: Encoder,
    sentences: Sequence[list[str]],
    batch_size: int = BATCH_SIZE,
) -> list[list[str]]:
    """Tag sentences with `model`, batching them by length.

    Args:
        model: The network; it is put in evaluation mode.
        encoder: The model's vocabularies.
        sentences: Tokens of each sentence, none empty.
        batch_size: Sentences per batch.

    Returns:
        The tags of each sentence, in input order.
    """
    model.eval()
    device = next(model.parameters()).device
    tags: list[list[str]] = [[] for _ in sentences]
    with torch.inference_mode():
        for indices in length_batches([len(s) for s in sentences], batch_size):
            batch = encoder.batch([sentences[i] for i in indices]).to(device)
            # (batch, seq_len)
            best = model.decode(batch).tolist()
            for row, i in enumerate(indices):
                tags[i] = [encoder.labels[t] for t in best[row][: len(sentences[i])]]
    return tags


class Tagger:
    """A loaded model, ready to tag.

    Args:
        info: The model's configuration.
        model: The network.
    """

    def __init__(self, info: ModelInfo, model: SequenceTagger):
        self.info = info
        self.model = model
        self.encoder = Encoder(info.vocab, info.model)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | None = None) -> Tagger:
        """Load a model directory."""
        info, model = load_model(Path(path), device)
        return cls(info, model)

    def tag_tokens(self, sentences: Sequence[list[str]]) -> list[list[str]]:
        """Tags of pre-tokenised sentences, in input order."""
        return predict_tags(self.model, self.encoder, sentences)

    def tag_stream(self, sentences: Iterable[Sentence]) -> Iterator[tuple[Sentence, list[str]]]:
        """Tag a stream of sentences a chunk at a time, yielding each with its tags in order."""
        stream = iter(sentences)
        while chunk := list(islice(stream, CHUNK_SIZE)):
            yield from zip(chunk, self.tag_tokens([s.tokens for s in chunk]), strict=True)
