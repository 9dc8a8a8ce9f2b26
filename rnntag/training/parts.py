"""The pieces a `Trainer` is made of besides its recipe: the network to train and its loss,
the optimiser, the moving average of the weights, and the training items."""

from __future__ import annotations

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from rnntag.model.config import ModelInfo, TrainConfig
from rnntag.model.encode import Batch, EncodedSentences, Encoder
from rnntag.model.modelfile import build_model
from rnntag.model.network import SequenceTagger
from rnntag.training.distill import distilled_loss
from rnntag.training.distributed import Cluster
from rnntag.training.finetune import graft
from rnntag.training.optim import RowAdam
from rnntag.training.windows import plan_windows


def new_network(
    info: ModelInfo,
    vectors: np.ndarray | None,
    parent: SequenceTagger | None,
    cluster: Cluster,
) -> SequenceTagger:
    """The network to train, started from the pretrained vectors, or from the parent's
    weights when fine-tuning (on rank 0: DistributedDataParallel copies them to the rest);
    a fine-tuning records in `info.results` how many new words got a pretrained vector."""
    config = info.train
    model = build_model(info).to(cluster.device)
    if vectors is not None:
        with torch.no_grad():
            model.word_embed.weight.copy_(torch.from_numpy(vectors))
    if parent is not None and cluster.main:
        info.results["pretrained_vectors_found"] = graft(model, parent, info, config.embeddings)
    model.word_embed.weight.requires_grad_(not (config.embeddings and config.freeze_embeddings))
    return model


def make_optimizer(
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


class Loss(torch.nn.Module):
    """The model's training loss as a forward pass, so DistributedDataParallel sees it."""

    def __init__(self, model: SequenceTagger, distill_weight: float = 0.0):
        super().__init__()
        self.model = model
        self.distill_weight = distill_weight

    def forward(
        self,
        batch: Batch,
        targets: torch.Tensor | None = None,
        gold: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args: batch with gold tags; when distilling, (batch, seq_len, num_labels) the
        teachers' marginals and (batch,) True for the rows with gold tags (see
        `rnntag.training.distill.distilled_loss`). Returns: () loss."""
        if targets is None or gold is None:
            return self.model.loss(batch)
        return distilled_loss(self.model, batch, targets, gold, self.distill_weight)


def moving_average(model: SequenceTagger, decay: float) -> AveragedModel | None:
    """The moving average of `model`'s weights that `--ema` keeps, if any."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def training_items(
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


def singleton_mask(num_words: int, words: torch.Tensor) -> torch.Tensor:
    """(num_words,) True for the words seen once in `words`, the (tokens,) training words."""
    return torch.bincount(words, minlength=num_words) == 1
