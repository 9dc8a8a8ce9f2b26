"""Training: mini-batches by length, word dropout, early stopping on the dev score, and the
best model on dev saved atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from rnntag.errors import RnntagError, UsageError
from rnntag.evaluation.metrics import dev_score
from rnntag.io.language import guess_language
from rnntag.io.schemes import convert, detect_scheme
from rnntag.io.sentence import InputSentence
from rnntag.io.text import hyphen_convention, kept_abbreviations, kept_forms
from rnntag.model.config import (
    PLAIN_TAG_NETWORK,
    ModelConfig,
    ModelInfo,
    TrainConfig,
    check_settings,
    from_dict,
)
from rnntag.model.device import threads_for
from rnntag.model.directory import check_info, save_config, save_metrics
from rnntag.model.documents import document_batches
from rnntag.model.encode import (
    UNK_INDEX,
    Batch,
    EncodedSentences,
    Encoder,
    build_vocabularies,
    clip_word,
    key_function,
    length_batches,
    word_counts,
)
from rnntag.model.memory import bound_kernel_cache, release_free_memory
from rnntag.model.modelfile import build_model, first_not_finite, save_model
from rnntag.model.network import SequenceTagger
from rnntag.model.subword import learn_bpe
from rnntag.tagging.predict import predict
from rnntag.training.checkpoint import (
    Checkpoint,
    LoopState,
    fingerprint,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
    settings_of,
)
from rnntag.training.distributed import Cluster, any_rank, join, leave, share_int, share_text
from rnntag.training.embeddings import pretrained_vocabulary
from rnntag.training.finetune import check_parent, extended_info, graft, load_parent
from rnntag.training.observer import EpochResult, TrainObserver
from rnntag.training.optim import RowAdam, clip_grad_norm
from rnntag.training.windows import plan_windows

# Batches between returns of freed memory to the system (see `rnntag.model.memory`): each costs
# page faults when the memory is used again, and a few hundred batches would let the process
# grow by over 100 MB.
RELEASE_EVERY = 50


def _singleton_mask(num_words: int, words: torch.Tensor) -> torch.Tensor:
    """(num_words,) True for the words seen once in `words`, the (tokens,) training words."""
    return torch.bincount(words, minlength=num_words) == 1


def _make_optimizer(
    model: SequenceTagger, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """The optimiser of `config`. With Adam on the CPU, the word table gets sparse gradients
    and row-wise updates (see `RowAdam`), unless weight decay moves every row; on a GPU the
    dense fused step is cheap, and a sparse one would wait on the host to size its rows."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    model.word_embed.sparse = (
        device.type == "cpu" and model.word_embed.weight.requires_grad and config.weight_decay == 0
    )
    return RowAdam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


class TrainingInterrupted(RnntagError):
    """Training stopped on request after a batch; a checkpoint was saved."""


def _prepare(
    train_tokens: list[list[str]],
    train_tags: list[list[str]],
    schemes: tuple[str | None, str | None],
    model_config: ModelConfig,
    train_config: TrainConfig,
) -> tuple[ModelInfo, np.ndarray | None]:
    """The model description of a new run and the pretrained vectors that initialise its word
    embeddings; `train_tags` are in the training scheme, `schemes` is (the data's, the
    training's)."""
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
    check_settings(model_config)
    info = ModelInfo(
        model=model_config,
        vocab=vocab,
        scheme=schemes[1],
        data_scheme=schemes[0],
        hyphens=hyphen_convention(train_tokens),
        forms=kept_forms(train_tokens),
        abbreviations=kept_abbreviations(train_tokens),
        lang=train_config.lang or guess_language(train_tokens),
        train=train_config,
        results={"pretrained_vectors_found": found},
    )
    return info, vectors


def train(
    train_data: Sequence[InputSentence],
    dev_data: Sequence[InputSentence] | None,
    out: Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    observer: TrainObserver | None = None,
    device: torch.device | None = None,
    scheme: str | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    given: Collection[str] | None = None,
) -> ModelInfo:
    """Train a tagger and save the best model on dev (the last one without dev) to `out`.

    A checkpoint in `out/checkpoint` is written after every epoch, and after the current
    batch when `should_stop()` turns true (then `TrainingInterrupted` is raised); `resume`
    continues from it. On the CPU a resumed run ends exactly as an uninterrupted one.

    Args:
        train_data: Tagged training sentences.
        dev_data: Tagged development sentences for model selection and early stopping.
        out: Model directory.
        model_config: Architecture (ignored on resume: the checkpoint's is used).
        train_config: Recipe (likewise).
        observer: Progress receiver.
        device: Where to train; the CPU by default.
        scheme: Span scheme of the data; detected from the training tags when None.
        resume: Continue from the checkpoint in `out`.
        should_stop: Polled after every batch.
        given: The settings the caller set. For plain tags the `model_config` fields not
            among them take the values of `PLAIN_TAG_NETWORK`, and on resume the
            checkpoint's; a fine-tuning refuses those that differ from its parent's. None
            keeps `model_config` as it is.

    Returns:
        The saved model's configuration, with its results.
    """
    cluster, device = join(device or torch.device("cpu"))
    # `threads` holds for this training only: a caller's own setting comes back after it.
    threads = torch.get_num_threads()
    try:
        return _train(
            train_data, dev_data, out, model_config, train_config,
            observer if cluster.main and observer is not None else TrainObserver(),
            device, scheme, resume, should_stop, given, cluster,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
        leave(cluster)


@dataclass
class _Run:
    """Everything one training holds between its steps."""

    info: ModelInfo
    loop: LoopState
    model: SequenceTagger
    network: torch.nn.Module  # the model's loss, wrapped for several processes if need be
    average: AveragedModel | None  # the moving average of the weights (--ema), if any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    encoder: Encoder
    encoded: EncodedSentences
    singletons: torch.Tensor  # (num_words,) True for the words seen once in training
    lengths: list[int]
    documents: list[int | None]  # each training sentence's document
    rng: random.Random  # the batch order, common to all processes
    digest: str  # what a checkpoint must have been made from
    out: Path
    device: torch.device
    cluster: Cluster


def _train(
    train_data: Sequence[InputSentence],
    dev_data: Sequence[InputSentence] | None,
    out: Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    observer: TrainObserver,
    device: torch.device,
    scheme: str | None,
    resume: bool,
    should_stop: Callable[[], bool],
    given: Collection[str] | None,
    cluster: Cluster,
) -> ModelInfo:
    bound_kernel_cache()
    run = _build(
        train_data, out, model_config, train_config, scheme, resume, given, device, cluster
    )
    dev = list(dev_data or [])
    release_free_memory()  # the pretrained file's reading, now done
    loop, config = run.loop, run.info.train
    started = time.perf_counter() - loop.seconds
    for choice in _choices(run.info, model_config, given):
        observer.on_choice(choice)
    # Batches of training items: sentences, or windows of the long ones.
    observer.on_start(config.epochs, math.ceil(len(run.lengths) / config.batch_size))
    while loop.epoch <= config.epochs and loop.stale < config.patience:
        epoch_start, batches = _one_epoch(run, observer, should_stop, started)
        lr = run.optimizer.param_groups[0]["lr"]
        run.scheduler.step()
        train_seconds = time.perf_counter() - epoch_start
        # What the epoch's batches left behind makes room for evaluating and saving.
        release_free_memory()
        metric, score, situations = _evaluate(run, dev)
        improved = score is None or loop.best_score is None or score > loop.best_score
        result = EpochResult(
            epoch=loop.epoch,
            loss=loop.loss_sum / sum(len(b) for b in batches),
            dev_metric=metric,
            dev_score=score,
            improved=improved,
            seconds=time.perf_counter() - epoch_start,
            tokens_per_second=loop.token_sum / max(train_seconds, 1e-9),
            lr=lr,
            dev_situations=situations,
        )
        _end_epoch(run, result, len(train_data), len(dev))
        observer.on_epoch(result)
        # Rank 0 alone sees the dev score: its count of stale epochs decides for all.
        loop.stale = share_int(cluster, loop.stale, device)
        loop.epoch, loop.batch = loop.epoch + 1, 0
        loop.seconds = time.perf_counter() - started
        if cluster.main and loop.epoch <= config.epochs and loop.stale < config.patience:
            _save_checkpoint(run)
    run.info.results.update(
        epochs_run=len(loop.history),
        seconds=round(time.perf_counter() - started, 1),
        device=device.type,
    )
    if cluster.main:
        save_config(out, run.info)
        remove_checkpoint(out)
    return run.info


def _choices(info: ModelInfo, asked: ModelConfig, given: Collection[str] | None) -> list[str]:
    """What `rnntag train` chose from the data among the settings the caller left open."""
    found = []
    if asked.doc_memory == "auto" and info.model.doc_memory == "on":
        found.append(
            "document memory on: span tags in data with documents (--no-doc-memory turns it off)"
        )
    open_network = [n for n in PLAIN_TAG_NETWORK if given is not None and n not in given]
    if info.scheme is None and open_network and not info.train.init_from:
        network = ", ".join(f"{n} {getattr(info.model, n)}" for n in open_network)
        found.append(f"plain tags: the bigger network ({network})")
    return found


def _check_unchanged(
    info: ModelInfo, model_config: ModelConfig, train_config: TrainConfig, out: Path
) -> None:
    """Refuse to resume with settings other than those the checkpoint was made with: they
    would be silently ignored. `threads` may differ; the embeddings are compared by file
    name, and `word_dim` not at all with them (the vectors set it)."""
    # A fine-tuned model's architecture is its parent's, whatever the defaults passed.
    pairs: list[tuple[Any, Any]] = [(train_config, info.train)]
    if not train_config.init_from:
        pairs.insert(0, (model_config, info.model))
    for given, saved in pairs:
        for item in dataclasses.fields(given):
            name = item.name
            now, then = getattr(given, name), getattr(saved, name)
            if name == "threads" or (name == "word_dim" and train_config.embeddings):
                continue
            if name == "embeddings":
                now, then = (Path(value).name if value else value for value in (now, then))
            if now != then:
                option = "--" + name.replace("_", "-")
                raise UsageError(
                    f"cannot resume with {option} {now}: the checkpoint was made with {then};"
                    " resume with the settings the training started with",
                    str(out),
                )


def _new_info(
    train_tokens: list[list[str]],
    train_tags: list[list[str]],
    schemes: tuple[str | None, str | None],
    model_config: ModelConfig,
    train_config: TrainConfig,
    parent: tuple[ModelInfo, SequenceTagger] | None,
    cluster: Cluster,
    device: torch.device,
) -> tuple[ModelInfo, np.ndarray | None]:
    """The model description of a new run, from scratch or extended from the parent's when
    fine-tuning, with the pretrained vectors to start from (on rank 0; see `_prepare`)."""
    info, vectors = None, None
    if cluster.main and parent is not None:
        info = extended_info(
            parent[0], train_tokens, train_tags, schemes[0], hyphen_convention(train_tokens),
            train_config, train_config.init_from or "",
        )  # fmt: skip
    elif cluster.main:
        info, vectors = _prepare(train_tokens, train_tags, schemes, model_config, train_config)
    # Rank 0 alone builds the vocabularies (and the byte-pair model) and sends them on.
    shared = share_text(cluster, json.dumps(info.to_dict()) if info else "", device)
    info = from_dict(ModelInfo, json.loads(shared), "info")
    _check_savable(info)
    return info, vectors


def _check_savable(info: ModelInfo) -> None:
    """Refuse, before any training, what the data makes of a model that could not be saved,
    loaded or written out: every limit `check_info` puts on a model directory, and labels
    with white space, which the conll and inline outputs could not write readably."""
    try:
        check_info(info)
    except RnntagError as exc:
        raise RnntagError(
            f"this training data makes a model rnntag cannot save: {exc.message}"
        ) from None
    spaced = next((tag for tag in info.vocab.labels if tag != "".join(tag.split())), None)
    if spaced is not None:
        raise RnntagError(
            f"label {spaced!r} holds white space, which tagged output could not be read back"
            " with; replace it in the training data"
        )


def _new_network(
    info: ModelInfo,
    vectors: np.ndarray | None,
    parent: SequenceTagger | None,
    device: torch.device,
    cluster: Cluster,
) -> SequenceTagger:
    """The network to train, started from the pretrained vectors, or from the parent's
    weights when fine-tuning (on rank 0: DistributedDataParallel copies them to the rest)."""
    config = info.train
    model = build_model(info).to(device)
    if vectors is not None:
        with torch.no_grad():
            model.word_embed.weight.copy_(torch.from_numpy(vectors))
    if parent is not None and cluster.main:
        info.results["pretrained_vectors_found"] = graft(model, parent, info, config.embeddings)
    model.word_embed.weight.requires_grad_(not (config.embeddings and config.freeze_embeddings))
    return model


def _with_data_decided(
    model_config: ModelConfig,
    given: Collection[str] | None,
    checkpoint: Checkpoint | None,
    train_config: TrainConfig,
    train_data: Sequence[InputSentence],
    train_tags: list[list[str]],
    scheme: str | None,
) -> ModelConfig:
    """`model_config` with what depends on the data decided: the document memory, when not
    given, on for span tags in data with documents, the recipe that measured best for entities
    (names recur within documents), and off otherwise; for plain tags, `PLAIN_TAG_NETWORK`
    where `given` does not name a field, or on resume the checkpoint's network. A fine-tuned
    model keeps its parent's."""
    if train_config.init_from:
        return model_config
    spans = (scheme or detect_scheme(train_tags)) is not None
    if model_config.doc_memory == "auto":
        documented = any(s.document is not None for s in train_data)
        model_config = replace(model_config, doc_memory="on" if spans and documented else "off")
    if given is None or (spans and checkpoint is None):
        return model_config
    # A resumed training keeps the network it began with, whatever this release's defaults.
    network = PLAIN_TAG_NETWORK
    if checkpoint is not None:
        network = {name: getattr(checkpoint.info.model, name) for name in network}
    return replace(model_config, **{n: v for n, v in network.items() if n not in given})


def _build(
    train_data: Sequence[InputSentence],
    out: Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    scheme: str | None,
    resume: bool,
    given: Collection[str] | None,
    device: torch.device,
    cluster: Cluster,
) -> _Run:
    """Prepare the data and the model, new or from the checkpoint in `out`."""
    train_tokens = [s.tokens for s in train_data]
    train_tags = [s.tags or [] for s in train_data]
    checkpoint = load_checkpoint(out) if resume else None
    model_config = _with_data_decided(
        model_config, given, checkpoint, train_config, train_data, train_tags, scheme
    )
    parent = None
    if checkpoint is not None:
        info, loop, vectors = checkpoint.info, checkpoint.loop, None
        _check_unchanged(info, model_config, train_config, out)
        data_scheme, internal_scheme = info.data_scheme, info.scheme
    else:
        loop = LoopState()
        data_scheme = scheme or detect_scheme(train_tags)
        internal_scheme = train_config.train_scheme if data_scheme else None
        if train_config.init_from:
            parent = load_parent(train_config.init_from)
            check_parent(parent[0], model_config, train_config, data_scheme, given)
            internal_scheme = parent[0].scheme
    # Converted once, here: the vocabularies, the fingerprint and the batches all use them.
    if internal_scheme:
        train_tags = [convert(tags, internal_scheme) for tags in train_tags]
    if checkpoint is None:
        schemes = (data_scheme, internal_scheme)
        info, vectors = _new_info(
            train_tokens, train_tags, schemes, model_config, train_config, parent, cluster, device
        )
    config = info.train
    torch.set_num_threads(threads_for(config.threads))
    rng = random.Random(config.seed)
    # Each rank draws its own dropout masks; the batch order (rng) is common to all.
    torch.manual_seed(config.seed + cluster.rank)
    if checkpoint is not None and not checkpoint.made_from(train_tokens, train_tags):
        raise RnntagError("the checkpoint was made with other training data or settings", str(out))
    digest = fingerprint(settings_of(info), train_tokens, train_tags)
    encoder = Encoder(info.vocab, info.model)
    model = _new_network(info, vectors, parent[1] if parent else None, device, cluster)
    # The model holds the vectors now; a second copy would stay for the whole training.
    vectors = None
    # Made first: it decides whether the word table's gradients are sparse, which
    # DistributedDataParallel must know when it wraps the model.
    optimizer = _make_optimizer(model, config, device)
    network: torch.nn.Module = _Loss(model)
    # DistributedDataParallel copies rank 0's weights (its pretrained vectors too) to all.
    if cluster.world > 1:
        network = torch.nn.parallel.DistributedDataParallel(network)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: 1.0 / (1.0 + config.lr_decay * e)
    )
    average = _moving_average(model, config.ema)
    if checkpoint is not None:
        checkpoint.restore(model, optimizer, scheduler, rng, average)
    documents = [s.document for s in train_data]
    encoded, lengths, documents = _training_items(
        encoder, train_tokens, train_tags, documents, config.bptt
    )
    singletons = _singleton_mask(len(encoder.words), encoded.words).to(device)
    return _Run(
        info, loop, model, network, average, optimizer, scheduler, encoder, encoded, singletons,
        lengths, documents, rng, digest, out, device, cluster,
    )  # fmt: skip


def _training_items(
    encoder: Encoder,
    tokens: list[list[str]],
    tags: list[list[str]],
    documents: list[int | None],
    bptt: int,
) -> tuple[EncodedSentences, list[int], list[int | None]]:
    """The sentences encoded as training items, those longer than `bptt` tokens as windows
    (see `rnntag.training.windows`), with each item's length and document."""
    items = plan_windows([len(t) for t in tokens], bptt)
    # A window of a long sentence is a document of its own: its context overlaps the next.
    item_documents = [
        documents[w.sentence] if w.end - w.start == len(tokens[w.sentence]) else None for w in items
    ]
    encoded = EncodedSentences(
        encoder,
        [tokens[w.sentence][w.start : w.end] for w in items],
        [tags[w.sentence][w.start : w.end] for w in items],
        item_documents,
        [(w.scored_start - w.start, w.scored_end - w.start) for w in items],
    )
    return encoded, [w.end - w.start for w in items], item_documents


def _moving_average(model: SequenceTagger, decay: float) -> AveragedModel | None:
    """The moving average of `model`'s weights that `--ema` keeps, if any."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def _one_epoch(
    run: _Run, observer: TrainObserver, should_stop: Callable[[], bool], started: float
) -> tuple[float, list[list[int]]]:
    """Train on the epoch's batches, from the first one not yet done.

    Returns:
        When the epoch started (earlier than now on resume), and its batches.
    """
    loop, config, device = run.loop, run.info.train, run.device
    if loop.batch == 0:
        loop.epoch_rng = list(_jsonable(run.rng.getstate()))
        loop.loss_sum, loop.token_sum, loop.epoch_seconds = 0.0, 0, 0.0
    run.model.train()
    epoch_start = time.perf_counter() - loop.epoch_seconds
    if run.info.model.doc_memory == "on":
        batches = list(document_batches(run.documents, config.batch_size, run.rng))
    else:
        batches = list(length_batches(run.lengths, config.batch_size, run.rng))
    if run.cluster.world > 1:
        # Every rank takes every world-th batch; all take the same number of steps.
        usable = len(batches) // run.cluster.world * run.cluster.world
        batches = batches[run.cluster.rank : usable : run.cluster.world]
    for number, indices in enumerate(batches, 1):
        if number <= loop.batch:
            continue
        batch_loss = _step(run, indices, number)
        # Counted on the host: summing the mask would wait for the device.
        tokens = sum(run.lengths[i] for i in indices)
        loop.loss_sum += batch_loss * len(indices)
        loop.token_sum += tokens
        loop.batch = number
        observer.on_batch(loop.epoch, number, batch_loss, tokens)
        if number % RELEASE_EVERY == 0:
            release_free_memory()
        if any_rank(run.cluster, should_stop(), device):
            loop.epoch_seconds = time.perf_counter() - epoch_start
            loop.seconds = time.perf_counter() - started
            if run.cluster.main:
                _save_checkpoint(run)
            raise TrainingInterrupted(
                f"training interrupted in epoch {loop.epoch} after batch {number}; the best"
                " model so far is saved; run the same command with --resume to go on",
                str(run.out),
            )
    # A step that made a weight infinite shows in the next batch's loss, but the last
    # step of an epoch has no next batch before the model is saved.
    bad = first_not_finite(dict(run.model.named_parameters()))
    if bad is not None:
        raise _not_finite(f"weight {bad!r} is no longer finite after epoch {loop.epoch}", run.out)
    return epoch_start, batches


def _step(run: _Run, indices: list[int], number: int) -> float:
    """One optimisation step on the sentences `indices`; returns the batch's loss."""
    config, device = run.info.train, run.device
    batch = run.encoded.batch(indices, _shown_alone(run, indices)).to(device)
    # (batch, seq_len): replace training singletons by <unk> so <unk> gets trained
    drop = run.singletons[batch.words] & (
        torch.rand(batch.words.shape, device=device) < config.unk_replace
    )
    batch.words = torch.where(drop, UNK_INDEX, batch.words)
    loss = run.network(batch)
    run.optimizer.zero_grad()
    loss.backward()
    if config.clip > 0:
        clip_grad_norm(run.model.parameters(), config.clip)
    run.optimizer.step()
    if run.average is not None:
        run.average.update_parameters(run.model)
    batch_loss = loss.item()
    if not math.isfinite(batch_loss):
        where = f"in epoch {run.loop.epoch}, batch {number}"
        raise _not_finite(f"the training loss became {batch_loss} {where}", run.out)
    return batch_loss


def _shown_alone(run: _Run, indices: list[int]) -> list[bool] | None:
    """Memory dropout (`--doc-dropout`): for each sentence of the batch, whether its document
    is shown this step as sentences that are each a document of their own. The model then
    meets "no other mention known" in training as it does when a user tags one sentence, and
    learns to use the memory without leaning on it."""
    if not (run.info.model.doc_memory == "on" and run.info.train.doc_dropout > 0):
        return None
    documents = [run.documents[i] for i in indices]
    # torch's generator, seeded like the rest of the step's randomness
    draws = torch.rand(len(documents)).tolist()
    first = {document: draws[k] for k, document in reversed(list(enumerate(documents)))}
    return [first[document] < run.info.train.doc_dropout for document in documents]


def _evaluate(
    run: _Run, dev: list[InputSentence]
) -> tuple[str, float | None, dict[str, float] | None]:
    """The dev metric and score (on the main process only), or ("loss", None, None) without
    dev data. A document-memory model is scored with the dev file's documents and with each
    sentence alone, as users feed it; its score, which early stopping follows, is the mean of
    the two, which are returned too."""
    if not (dev and run.cluster.main):
        return "loss", None, None
    info = run.info
    scheme_out = info.data_scheme if info.data_scheme != info.scheme else None
    gold = [s.tags or [] for s in dev]
    tokens = [s.tokens for s in dev]
    situations = {"documents": [s.document for s in dev]}
    if info.model.doc_memory == "on":
        situations["sentences"] = [None] * len(dev)
    scores: dict[str, float] = {}
    for situation, documents in situations.items():
        tagged = predict(
            _evaluated(run), run.encoder, tokens, scheme=scheme_out, documents=documents
        )
        metric, scores[situation] = dev_score(gold, [p.tags for p in tagged], info.data_scheme)
    if len(scores) == 1:
        return metric, scores["documents"], None
    return f"mean {metric}", sum(scores.values()) / 2, scores


def _end_epoch(run: _Run, result: EpochResult, train_sentences: int, dev_sentences: int) -> None:
    """Record the epoch, and save the model when it is the best so far."""
    loop = run.loop
    loop.history.append(vars(result).copy())
    if run.cluster.main:
        save_metrics(run.out, loop.history)
    if result.improved:
        loop.best_score, loop.stale = result.dev_score, 0
        run.info.results.update(
            best_epoch=loop.epoch,
            dev_metric=result.dev_metric,
            dev_score=result.dev_score,
            train_sentences=train_sentences,
            dev_sentences=dev_sentences,
        )
        if run.cluster.main:
            save_model(run.out, run.info, _evaluated(run))
    else:
        loop.stale += 1


def _evaluated(run: _Run) -> SequenceTagger:
    """The weights that are evaluated and saved: their moving average with --ema."""
    return run.model if run.average is None else cast(SequenceTagger, run.average.module)


def _save_checkpoint(run: _Run) -> None:
    save_checkpoint(
        run.out, run.info, run.loop, run.model, run.optimizer, run.scheduler, run.digest,
        run.average,
    )  # fmt: skip


def _not_finite(what: str, out: Path) -> RnntagError:
    """The error that stops a training whose loss or weights are no longer finite."""
    return RnntagError(
        f"{what}; nothing from this epoch was saved (check --lr, --lr-decay and the embeddings"
        " file)",
        str(out),
    )


class _Loss(torch.nn.Module):
    """The model's training loss as a forward pass, so DistributedDataParallel sees it."""

    def __init__(self, model: SequenceTagger):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> torch.Tensor:
        """Args: batch with gold tags. Returns: () loss."""
        return self.model.loss(batch)


def _jsonable(state: tuple[Any, ...]) -> list[Any]:
    """Python's RNG state as JSON lists."""
    version, internal, gauss = state
    return [version, list(internal), gauss]
