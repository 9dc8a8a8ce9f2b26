"""Training: mini-batches by length, word dropout, early stopping on the dev score, and the
best model on dev saved atomically.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rnntag.config import ModelConfig, ModelInfo, TrainConfig, check_sizes
from rnntag.corpus import Sentence
from rnntag.embeddings import pretrained_vocabulary
from rnntag.encode import (
    UNK_INDEX,
    Encoder,
    build_vocabularies,
    clip_word,
    key_function,
    length_batches,
    word_counts,
)
from rnntag.errors import RnntagError
from rnntag.metrics import evaluate, primary_score
from rnntag.model import SequenceTagger
from rnntag.modelfile import build_model, save_config, save_model
from rnntag.predict import predict_tags
from rnntag.schemes import convert, detect_scheme
from rnntag.subword import learn_bpe


@dataclass
class EpochResult:
    """What one epoch did."""

    epoch: int
    loss: float  # mean training loss per sentence
    dev_metric: str
    dev_score: float | None
    improved: bool
    seconds: float
    tokens_per_second: float
    lr: float


class TrainObserver:
    """Receives progress; the CLI shows it, the library itself stays silent."""

    def on_start(self, epochs: int, batches_per_epoch: int) -> None:
        """Training is about to start."""

    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None:
        """A batch of `tokens` tokens finished with mean loss `loss`."""

    def on_epoch(self, result: EpochResult) -> None:
        """An epoch and its dev evaluation finished."""


def check_writable(directory: Path) -> None:
    """Fail now, not after hours of training, if the model directory cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise RnntagError(
            f"cannot write the model directory: {exc.strerror}", str(directory)
        ) from None


def _singleton_mask(encoder: Encoder, train: Sequence[Sentence]) -> torch.Tensor:
    counts = torch.zeros(len(encoder.words), dtype=torch.long)
    for sentence in train:
        counts.index_add_(
            0,
            torch.tensor(encoder.word_ids(sentence.tokens)),
            torch.ones(len(sentence.tokens), dtype=torch.long),
        )
    # (num_words,)
    return counts == 1


def _make_optimizer(model: SequenceTagger, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def train(
    train_data: Sequence[Sentence],
    dev_data: Sequence[Sentence] | None,
    out: Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    observer: TrainObserver | None = None,
    device: torch.device | None = None,
    scheme: str | None = None,
) -> ModelInfo:
    """Train a tagger and save the best model on dev (the last one without dev) to `out`.

    Args:
        train_data: Tagged training sentences.
        dev_data: Tagged development sentences for model selection and early stopping.
        out: Model directory.
        model_config: Architecture.
        train_config: Recipe.
        observer: Progress receiver.
        device: Where to train; the CPU by default.
        scheme: Span scheme of the data; detected from the training tags when None.

    Returns:
        The saved model's configuration, with its results.
    """
    observer = observer or TrainObserver()
    device = device or torch.device("cpu")
    check_writable(out)
    if train_config.threads > 0:
        torch.set_num_threads(train_config.threads)
    rng = random.Random(train_config.seed)
    torch.manual_seed(train_config.seed)

    train_tokens = [s.tokens for s in train_data]
    train_tags = [s.tags or [] for s in train_data]
    data_scheme = scheme or detect_scheme(train_tags)
    internal_scheme = train_config.train_scheme if data_scheme else None
    if internal_scheme:
        train_tags = [convert(tags, internal_scheme) for tags in train_tags]
    vocab = build_vocabularies(train_tokens, train_tags, model_config)
    if model_config.subword == "bpe":
        vocab.bpe = learn_bpe(
            (clip_word(t, model_config.max_word_chars) for s in train_tokens for t in s),
            model_config.bpe_vocab_size,
        )
    vectors, found = None, 0
    if train_config.embeddings:
        vocab.words, vectors, found = pretrained_vocabulary(
            Path(train_config.embeddings),
            word_counts(train_tokens, model_config),
            train_config.embeddings_max,
            key_function(model_config),
            train_config.seed,
        )
        model_config = replace(model_config, word_dim=vectors.shape[1])
    info = ModelInfo(
        model=model_config,
        vocab=vocab,
        scheme=internal_scheme,
        data_scheme=data_scheme,
        train=train_config,
    )
    check_sizes(model_config)
    encoder = Encoder(info.vocab, model_config)
    model = build_model(info).to(device)
    if vectors is not None:
        with torch.no_grad():
            model.word_embed.weight.copy_(torch.from_numpy(vectors))
        model.word_embed.weight.requires_grad_(not train_config.freeze_embeddings)
    optimizer = _make_optimizer(model, train_config)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: 1.0 / (1.0 + train_config.lr_decay * e)
    )
    singletons = _singleton_mask(encoder, train_data).to(device)
    word_ids = [encoder.word_ids(tokens) for tokens in train_tokens]
    lengths = [len(t) for t in train_tokens]
    batches_per_epoch = math.ceil(len(train_data) / train_config.batch_size)

    best_score = -math.inf
    stale = 0
    history = []
    started = time.perf_counter()
    observer.on_start(train_config.epochs, batches_per_epoch)
    for epoch in range(1, train_config.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        total_loss, total_tokens = 0.0, 0
        for number, indices in enumerate(
            length_batches(lengths, train_config.batch_size, rng), start=1
        ):
            batch = encoder.batch(
                [train_tokens[i] for i in indices],
                [train_tags[i] for i in indices],
                [word_ids[i] for i in indices],
            ).to(device)
            # (batch, seq_len): replace training singletons by <unk> so <unk> gets trained
            drop = singletons[batch.words] & (
                torch.rand(batch.words.shape, device=device) < train_config.unk_replace
            )
            batch.words = torch.where(drop, UNK_INDEX, batch.words)
            loss = model.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            if train_config.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.clip)
            optimizer.step()
            tokens = int(batch.mask.sum())
            total_loss += loss.item() * len(indices)
            total_tokens += tokens
            observer.on_batch(epoch, number, loss.item(), tokens)
        lr = optimizer.param_groups[0]["lr"]
        schedule.step()
        train_seconds = time.perf_counter() - epoch_start

        metric, score = "loss", None
        if dev_data:
            dev_tags = predict_tags(model, encoder, [s.tokens for s in dev_data])
            if data_scheme:
                dev_tags = [convert(tags, data_scheme) for tags in dev_tags]
            metric, score = primary_score(
                evaluate([s.tags or [] for s in dev_data], dev_tags, data_scheme)
            )
        improved = score is None or score > best_score
        result = EpochResult(
            epoch=epoch,
            loss=total_loss / len(train_data),
            dev_metric=metric,
            dev_score=score,
            improved=improved,
            seconds=time.perf_counter() - epoch_start,
            tokens_per_second=total_tokens / train_seconds,
            lr=lr,
        )
        history.append(vars(result).copy())
        if improved:
            best_score, stale = (score if score is not None else best_score), 0
            info.results = {
                "best_epoch": epoch,
                "dev_metric": metric,
                "dev_score": score,
                "train_sentences": len(train_data),
                "dev_sentences": len(dev_data or []),
                "pretrained_vectors_found": found,
            }
            save_model(out, info, model)
        else:
            stale += 1
        observer.on_epoch(result)
        if stale >= train_config.patience:
            break
    info.results.update(
        epochs_run=len(history),
        seconds=round(time.perf_counter() - started, 1),
        device=device.type,
        history=history,
    )
    save_config(out, info)
    return info
