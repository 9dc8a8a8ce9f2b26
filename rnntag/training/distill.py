"""Knowledge distillation (`--teacher`): the student learns from the gold tags and from its
teachers' per-token tag probabilities (their CRF's forward-backward marginals), averaged over
the teachers, computed once before training in evaluation mode.

The loss of a batch is the mean over its sentences of (1 - W) times the gold negative
log-likelihood (none for an `--unlabelled` sentence) plus W times the cross-entropy between
the teachers' marginals q and the student's own marginals p, summed over each sentence's
scored tokens: -sum_t sum_y q_t(y) log p_t(y). It differs from the KL divergence by the
teachers' entropy, a constant: the same gradients, and a loss on the gold term's scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnntag.errors import UsageError
from rnntag.io.formats import ReadOptions, guess_format, load_corpus
from rnntag.io.sentence import InputSentence
from rnntag.model.config import ModelInfo, TrainConfig
from rnntag.model.directory import resolve_model
from rnntag.model.encode import Batch, Encoder
from rnntag.model.modelfile import load_model
from rnntag.model.network import SequenceTagger
from rnntag.tagging.predict import marginals
from rnntag.training.windows import plan_windows

MUST_MATCH = "a teacher must have the student's labels, scheme and CRF constraints"


@dataclass(frozen=True)
class Distillation:
    """What a distilling training learns from its teachers.

    Attributes:
        weight: W in (1 - W) gold loss + W distillation loss.
        targets: Per training sentence, then per unlabelled one, (len, num_labels) the
            teachers' mean tag probabilities, in the order of the student's labels.
        unlabelled: Tokens of the `--unlabelled` sentences.
        documents: Their documents, numbered past the training file's.
    """

    weight: float
    targets: list[Tensor]
    unlabelled: list[list[str]]
    documents: list[int | None]


def check_options(config: TrainConfig, given: frozenset[str]) -> None:
    """Refuse the distillation options without a teacher: they would do nothing."""
    if not config.teacher and ("distill_weight" in given or config.unlabelled):
        raise UsageError("--distill-weight and --unlabelled need a --teacher")


def distillation(
    config: TrainConfig,
    info: ModelInfo,
    tokens: list[list[str]],
    documents: list[int | None],
    device: torch.device,
) -> Distillation | None:
    """Load and check the teachers of `config`, and their marginals on the training
    sentences (with their documents) and the unlabelled ones; None without teachers, or with
    a weight of 0, which trains exactly as without teachers (they are checked all the same).
    Every process of a distributed training computes them all: each has every item."""
    teachers = [load_teacher(name, info) for name in config.teacher]
    if not teachers or config.distill_weight == 0:
        return None
    unlabelled = read_unlabelled(config.unlabelled) if config.unlabelled else []
    offset = max((d for d in documents if d is not None), default=0) + 1
    extra = [s.document + offset if s.document is not None else None for s in unlabelled]
    sentences, every_document = tokens + [s.tokens for s in unlabelled], documents + extra
    targets: list[Tensor] | None = None
    for teacher_info, model in teachers:
        order = [teacher_info.vocab.labels.index(label) for label in info.vocab.labels]
        encoder = Encoder(teacher_info.vocab, teacher_info.model)
        found = marginals(model.to(device), encoder, sentences, every_document)
        found = [m[:, order] for m in found]
        targets = found if targets is None else [a + b for a, b in zip(targets, found, strict=True)]
    assert targets is not None
    targets = [t / len(teachers) for t in targets]
    return Distillation(config.distill_weight, targets, [s.tokens for s in unlabelled], extra)


def load_teacher(name: str, info: ModelInfo) -> tuple[ModelInfo, SequenceTagger]:
    """A teacher model, refused unless its labels are the student's (`info`'s, in the
    training scheme), in the same scheme, with the same CRF constraints: otherwise its
    probabilities would be over other tags, or on tags the student can never give."""
    teacher, model = load_model(resolve_model(name))
    if teacher.scheme != info.scheme:
        theirs, ours = (s or "plain tags" for s in (teacher.scheme, info.scheme))
        raise UsageError(
            f"teacher {name}: its labels are in {theirs}, the student's in {ours}; {MUST_MATCH}"
        )
    if set(teacher.vocab.labels) != set(info.vocab.labels):
        other = sorted(set(teacher.vocab.labels) ^ set(info.vocab.labels))
        raise UsageError(
            f"teacher {name}: labels {', '.join(other[:5])} are not in both models; {MUST_MATCH}"
        )
    if _constrained(teacher) != _constrained(info):
        raise UsageError(f"teacher {name}: other CRF constraints (--constrain); {MUST_MATCH}")
    return teacher, model


def _constrained(info: ModelInfo) -> bool:
    return info.scheme is not None and info.model.decoder == "crf" and info.model.constrain


def read_unlabelled(path: str) -> list[InputSentence]:
    """The sentences of `path`: CoNLL or CoNLL-U by its suffix (tags, if any, ignored),
    else a sentence per line of space-separated tokens."""
    return load_corpus(path, ReadOptions(guess_format(path, "tokens"), tag_column=None))


class Targets:
    """The teachers' marginals of each training item (see `rnntag.training.windows`), and
    whether it has gold tags; the items of `training_items`, then the unlabelled sentences.

    Args:
        distill: The teachers' marginals per sentence, labelled first.
        lengths: The length of each labelled sentence and then each unlabelled one.
        labelled: How many of the sentences are labelled.
        bptt: The window length of `--bptt`.
    """

    def __init__(self, distill: Distillation, lengths: list[int], labelled: int, bptt: int):
        items = plan_windows(lengths, bptt)
        self.targets = [distill.targets[w.sentence][w.start : w.end] for w in items]
        self.gold = [w.sentence < labelled for w in items]

    def batch(self, indices: Sequence[int], device: torch.device) -> tuple[Tensor, Tensor]:
        """(batch, seq_len, num_labels) marginals, 0 at padding, and (batch,) gold flags."""
        padded = nn.utils.rnn.pad_sequence([self.targets[i] for i in indices], batch_first=True)
        return padded.to(device), torch.tensor([self.gold[i] for i in indices], device=device)


def distilled_loss(
    model: SequenceTagger, batch: Batch, targets: Tensor, gold: Tensor, weight: float
) -> Tensor:
    """The distilling training's loss (see the module's docstring).

    Args:
        model: The student.
        batch: Padded input; tags of no meaning in the rows without gold.
        targets: (batch, seq_len, num_labels) the teachers' marginals.
        gold: (batch,) True for the rows with gold tags.
        weight: W.

    Returns:
        () the loss.
    """
    assert batch.tags is not None
    # (batch, seq_len, num_tags)
    scores = model(batch)
    # (batch, seq_len)
    counted = batch.mask if batch.scored is None else batch.mask & batch.scored
    # (batch,)
    nll = gold_loss(model, scores, batch)
    # (batch,)
    soft = cross_entropy(log_marginals(model, scores, batch.mask), targets, counted)
    return ((1 - weight) * torch.where(gold, nll, 0.0) + weight * soft).mean()


def gold_loss(model: SequenceTagger, scores: Tensor, batch: Batch) -> Tensor:
    """(batch,) each sentence's gold loss, as `SequenceTagger.loss` sums it."""
    assert batch.tags is not None
    if model.crf is not None:
        return -model.crf(scores, batch.tags, batch.mask, batch.scored)
    # (batch, seq_len)
    token_loss = nn.functional.cross_entropy(scores.transpose(1, 2), batch.tags, reduction="none")
    counted = batch.mask if batch.scored is None else batch.mask & batch.scored
    return torch.where(counted, token_loss, 0.0).sum(dim=1)


def log_marginals(model: SequenceTagger, scores: Tensor, mask: Tensor) -> Tensor:
    """(batch, seq_len, num_tags) the student's log-probability of each tag at each position,
    differentiable: forward-backward under a CRF, log-softmax otherwise; rows at padded
    positions are meaningless."""
    if model.crf is None:
        return torch.log_softmax(scores, dim=2)
    alpha, beta, log_z = model.crf.forward_backward(scores, mask)
    return alpha + beta - log_z[:, None, None]


def cross_entropy(log_p: Tensor, targets: Tensor, counted: Tensor) -> Tensor:
    """(batch,) -sum_t sum_y q_t(y) log p_t(y) over each sentence's `counted` positions.

    Args:
        log_p: (batch, seq_len, num_tags) the student's log-marginals.
        targets: (batch, seq_len, num_tags) the teachers' marginals q.
        counted: (batch, seq_len) boolean.
    """
    # (batch, seq_len)
    token = -(targets * log_p).sum(dim=2)
    return torch.where(counted, token, 0.0).sum(dim=1)
