"""Data-parallel training with `torch.distributed`, as launched by `torchrun`.

Every rank trains on its share of each epoch's batches and DistributedDataParallel averages
the gradients; rank 0 alone builds the vocabularies (sent to the others as JSON), evaluates
on dev, writes the model and checkpoints, and reports progress. The backend is NCCL on GPUs
and gloo on CPUs. Every question a training asks of the other ranks goes through `Cluster`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from torch import distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Cluster:
    """This process's place among the training processes, and what it asks of the others;
    alone (`world` 1), every answer is its own."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """Whether this process evaluates, saves and reports."""
        return self.rank == 0

    def share_text(self, text: str) -> str:
        """Rank 0's `text` on every rank (sent as UTF-8 bytes, never pickled)."""
        if self.world == 1:
            return text
        data = torch.tensor(list(text.encode("utf-8")) if self.main else [], dtype=torch.uint8)
        size = torch.tensor([data.numel()], dtype=torch.long, device=self.device)
        dist.broadcast(size, 0)
        buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=self.device)
        if self.main:
            buffer.copy_(data)
        dist.broadcast(buffer, 0)
        return bytes(buffer.cpu().tolist()).decode("utf-8")

    def share_int(self, value: int) -> int:
        """Rank 0's `value` on every rank."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.long, device=self.device)
        dist.broadcast(tensor, 0)
        return int(tensor.item())

    def any(self, flag: bool) -> bool:
        """Whether `flag` is true on any rank (so that all ranks stop at the same batch)."""
        if self.world == 1:
            return flag
        tensor = torch.tensor([int(flag)], dtype=torch.long, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def share_of(self, batches: list[T]) -> list[T]:
        """This rank's share of an epoch's batches: every world-th one, the same number on
        every rank, so that all take the same number of steps."""
        if self.world == 1:
            return batches
        usable = len(batches) // self.world * self.world
        return batches[self.rank : usable : self.world]

    def wrap(self, network: torch.nn.Module) -> torch.nn.Module:
        """`network` as the ranks train it together: DistributedDataParallel copies rank 0's
        weights to all of them, then averages their gradients at every step."""
        if self.world == 1:
            return network
        return torch.nn.parallel.DistributedDataParallel(network)


@contextmanager
def joined(device: torch.device) -> Iterator[Cluster]:
    """This process's place among the training processes, for as long as the context
    lasts: in the process group when launched by torchrun (WORLD_SIZE > 1), which it leaves
    at the end; alone otherwise.

    Args:
        device: The device asked for; with CUDA, each rank takes the GPU of its LOCAL_RANK.
    """
    cluster = _join(device)
    try:
        yield cluster
    finally:
        if cluster.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _join(device: torch.device) -> Cluster:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Cluster(device=device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Cluster(dist.get_rank(), dist.get_world_size(), device)
