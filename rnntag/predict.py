"""Tagging with a trained model: batched by length, without autograd, in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import torch

from rnntag.config import ModelInfo
from rnntag.corpus import Sentence
from rnntag.encode import Encoder, length_batches
from rnntag.errors import RnntagError
from rnntag.model import SequenceTagger
from rnntag.modelfile import load_model
from rnntag.schemes import convert, scheme_labels

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


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RnntagError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise RnntagError(f"device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


def chunks(sentences: Iterable[Sentence], size: int = CHUNK_SIZE) -> Iterator[list[Sentence]]:
    """Consecutive lists of up to `size` sentences, read lazily so memory stays bounded."""
    stream = iter(sentences)
    while chunk := list(islice(stream, size)):
        yield chunk


class Tagger:
    """A loaded model, ready to tag.

    Args:
        info: The model's configuration.
        model: The network.
        output_scheme: Span scheme of the tags returned; by default that of the training data.
    """

    def __init__(self, info: ModelInfo, model: SequenceTagger, output_scheme: str | None = None):
        self.info = info
        self.model = model
        self.encoder = Encoder(info.vocab, info.model)
        self.output_scheme = output_scheme or info.data_scheme or info.scheme
        if info.scheme is None:
            self.output_scheme = None
        self.labels = info.vocab.labels
        if self.output_scheme is not None:
            self.labels = scheme_labels(info.vocab.labels, self.output_scheme)

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: torch.device | None = None,
        output_scheme: str | None = None,
    ) -> Tagger:
        """Load a model directory."""
        info, model = load_model(Path(path), device)
        return cls(info, model, output_scheme)

    def tag_tokens(self, sentences: Sequence[list[str]]) -> list[list[str]]:
        """Tags of pre-tokenised sentences, in input order."""
        tags = predict_tags(self.model, self.encoder, sentences)
        if self.output_scheme is not None and self.output_scheme != self.info.scheme:
            tags = [convert(t, self.output_scheme) for t in tags]
        return tags
