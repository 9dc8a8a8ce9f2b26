"""Optimisation of a model whose word table is far larger than the rest: Adam that does its
work only on the rows it moves, and gradient clipping that counts sparse gradients.

A batch of 32 sentences touches a few hundred of the word table's 100,000 rows. A dense Adam
step reads and writes all of them, and their zero gradients, at every batch; on a CPU that
costs about as much as the rest of the network's backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

# Momentum, relative to its last gradient, below which a quiet row is left alone.
MOMENTUM_FLOOR = 1e-7


class RowAdam(torch.optim.Adam):
    """Adam that works only on the rows it moves of parameters with sparse gradients.

    Parameters with dense gradients take the stock Adam step (fused when asked for). For a
    parameter with a sparse gradient (an `nn.Embedding(sparse=True)`) the step is dense Adam's
    too, but computed only where it changes something: on the rows of the batch, and on the
    rows whose momentum still moves them, those with a gradient in the last `horizon` steps
    (153 for beta1 0.9, after which the momentum has decayed below `MOMENTUM_FLOOR`). Rows
    never seen keep zero moments and do not move, as under dense Adam; a row coming back after
    a longer pause first decays its moments by the steps it missed. So the result equals dense
    Adam's up to the momentum below the floor, at a tenth of the work for a word table.

    The state has the keys of `torch.optim.Adam` (`step`, `exp_avg`, `exp_avg_sq`), and for a
    sparse parameter `touched`, the last step at which each row had a gradient (0 for none).

    Args:
        params: Parameters or parameter groups.
        **options: Options of `torch.optim.Adam`; `weight_decay`, `amsgrad`, `maximize` and
            `decoupled_weight_decay` only for parameters with dense gradients (weight decay
            moves every row at every step, so it needs the dense step).
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Take one optimisation step.

        Args:
            closure: Not supported; must be None.

        Returns:
            None.
        """
        if closure is not None:
            raise ValueError("RowAdam.step takes no closure")
        sparse: list[tuple[dict[str, Any], Tensor, Tensor]] = []
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None and param.grad.is_sparse:
                    sparse.append((group, param, param.grad))
        # The stock step skips parameters without a gradient, and refuses sparse ones.
        for _, param, _ in sparse:
            param.grad = None
        try:
            super().step()
        finally:
            for _, param, grad in sparse:
                param.grad = grad
        for group, param, grad in sparse:
            self._row_step(group, param, grad)
        return None

    def _row_step(self, group: dict[str, Any], param: Tensor, grad: Tensor) -> None:
        if (
            group["weight_decay"] != 0
            or group["amsgrad"]
            or group["maximize"]
            or group["decoupled_weight_decay"]
        ):
            raise ValueError(
                "weight decay, amsgrad and maximize need dense gradients, not sparse ones"
            )
        state = self.state[param]
        if not state:
            # As fused Adam keeps them: the count as a float tensor, on the parameter's device.
            state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["touched"] = torch.zeros(param.size(0), dtype=torch.long, device=param.device)
        beta1, beta2 = group["betas"]
        horizon = momentum_horizon(beta1)
        step = state["step"].add_(1.0)
        # ()
        now = step.long()
        # (num_rows,)
        touched = state["touched"]
        grad = grad.coalesce()
        # (batch_rows,) and (batch_rows, dim): each row of the batch once, gradients summed
        batch_rows, values = grad.indices()[0], grad.values()
        # (num_rows,): rows that momentum still moves, and the batch's
        moving = (touched > 0) & (touched >= now - horizon)
        moving[batch_rows] = True
        # (rows,) ascending
        rows = moving.nonzero().squeeze(1)
        # (rows, dim): zero on the rows that only momentum moves
        gradient = values.new_zeros((rows.size(0), values.size(1)))
        gradient.index_copy_(0, torch.searchsorted(rows, batch_rows), values)
        # (rows, 1): steps a returning row missed, over which dense Adam decayed its moments
        missed = (now - 1 - touched[rows] - horizon).clamp(min=0).unsqueeze(1).float()
        # (rows, dim) each
        exp_avg = state["exp_avg"][rows].mul_(torch.pow(beta1, missed))
        exp_avg_sq = state["exp_avg_sq"][rows].mul_(torch.pow(beta2, missed))
        exp_avg.lerp_(gradient, 1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(gradient, gradient, value=1.0 - beta2)
        state["exp_avg"].index_copy_(0, rows, exp_avg)
        state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
        touched.index_fill_(0, batch_rows, now)
        # Tensor arithmetic on the step count, so that no value travels to the host.
        bias_correction1 = 1.0 - torch.pow(beta1, step)
        bias_correction2_sqrt = (1.0 - torch.pow(beta2, step)).sqrt()
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        param.index_add_(0, rows, exp_avg / denom * (-group["lr"] / bias_correction1))


def momentum_horizon(beta1: float) -> int:
    """Steps after a row's last gradient until its momentum falls below `MOMENTUM_FLOOR`."""
    if beta1 <= 0.0:
        return 0
    return math.ceil(math.log(MOMENTUM_FLOOR) / math.log(beta1))


def clip_grad_norm(parameters: Iterable[Tensor], max_norm: float) -> Tensor:
    """Scale the gradients so that their joint L2 norm is at most `max_norm`, as
    `torch.nn.utils.clip_grad_norm_` does, sparse gradients included.

    A sparse gradient is coalesced (each row once, duplicates summed) in place of the
    parameter's gradient, and counts with the norm of the dense gradient it stands for.

    Args:
        parameters: Parameters whose gradients to clip.
        max_norm: Largest joint norm.

    Returns:
        () the joint norm before clipping.
    """
    grads: list[Tensor] = []
    for param in parameters:
        if param.grad is None:
            continue
        if param.grad.is_sparse:
            param.grad = param.grad.coalesce()
            grads.append(param.grad.values())
        else:
            grads.append(param.grad)
    if not grads:
        return torch.tensor(0.0)
    total = torch.nn.utils.get_total_norm(grads)
    # The stock formula: a factor of at most 1, applied in every case so nothing syncs.
    factor = (max_norm / (total + 1e-6)).clamp(max=1.0)
    torch._foreach_mul_(grads, factor)
    return total
