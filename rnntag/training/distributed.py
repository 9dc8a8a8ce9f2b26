"""Data-parallel training with `torch.distributed`, as launched by `torchrun`.

Every rank trains on its share of each epoch's batches and DistributedDataParallel averages
the gradients; rank 0 alone builds the vocabularies (sent to the others as JSON), evaluates
on dev, writes the model and checkpoints, and reports progress. The backend is NCCL on GPUs
and gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import distributed as dist


@dataclass
class Cluster:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process evaluates, saves and reports."""
        return self.rank == 0


def join(device: torch.device) -> tuple[Cluster, torch.device]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1).

    Args:
        device: The device asked for; with CUDA, each rank takes the GPU of its LOCAL_RANK.

    Returns:
        This process's cluster place and device.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Cluster(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Cluster(dist.get_rank(), dist.get_world_size()), device


def leave(cluster: Cluster) -> None:
    """Leave the process group, if this process joined one."""
    if cluster.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def share_text(cluster: Cluster, text: str, device: torch.device) -> str:
    """Rank 0's `text` on every rank (sent as UTF-8 bytes, never pickled)."""
    if cluster.world == 1:
        return text
    data = torch.tensor(list(text.encode("utf-8")) if cluster.main else [], dtype=torch.uint8)
    size = torch.tensor([data.numel()], dtype=torch.long, device=device)
    dist.broadcast(size, 0)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if cluster.main:
        buffer.copy_(data)
    dist.broadcast(buffer, 0)
    return bytes(buffer.cpu().tolist()).decode("utf-8")


def share_int(cluster: Cluster, value: int, device: torch.device) -> int:
    """Rank 0's `value` on every rank."""
    if cluster.world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.long, device=device)
    dist.broadcast(tensor, 0)
    return int(tensor.item())


def any_rank(cluster: Cluster, flag: bool, device: torch.device) -> bool:
    """Whether `flag` is true on any rank (so that all ranks stop at the same batch)."""
    if cluster.world == 1:
        return flag
    tensor = torch.tensor([int(flag)], dtype=torch.long, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())
