"""Optimisation of a model whose word table is far larger than the rest: Adam that updates a
parameter with a sparse gradient only at the rows the batch used, and gradient clipping that
counts those rows.

A batch of 32 sentences touches a few hundred of the word table's 100,000 rows. A dense Adam
step reads and writes all of them, and their zero gradients, at every batch; on a CPU that
costs about as much as the rest of the network's backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


class RowAdam(torch.optim.Adam):
    """Adam whose parameters with sparse gradients are updated lazily, row by row.

    Parameters with dense gradients take the stock Adam step (fused when asked for). A
    parameter with a sparse gradient (an `nn.Embedding(sparse=True)`) has only its touched
    rows updated, with Adam's formulas and the parameter's own step count for the bias
    correction; its other rows and their moments stay as they are, where dense Adam would let
    their momentum carry them on. This is the "lazy Adam" of embedding training. The state has
    the keys of `torch.optim.Adam` (`step`, `exp_avg`, `exp_avg_sq`), so checkpoints hold the
    same tensors either way.

    Args:
        params: Parameters or parameter groups.
        **options: Options of `torch.optim.Adam`; `amsgrad`, `maximize` and
            `decoupled_weight_decay` only for parameters with dense gradients.
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
        if group["amsgrad"] or group["maximize"] or group["decoupled_weight_decay"]:
            raise ValueError("amsgrad, maximize and decoupled weight decay need dense gradients")
        state = self.state[param]
        if not state:
            # As fused Adam keeps them: the count as a float tensor, on the parameter's device.
            state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        beta1, beta2 = group["betas"]
        grad = grad.coalesce()
        # (rows,) and (rows, dim): each touched row once, its gradients summed
        rows, values = grad.indices()[0], grad.values()
        if group["weight_decay"] != 0:
            values = values.add(param[rows], alpha=group["weight_decay"])
        step = state["step"].add_(1.0)
        # (rows, dim) each
        exp_avg = state["exp_avg"][rows].lerp_(values, 1.0 - beta1)
        exp_avg_sq = state["exp_avg_sq"][rows].mul_(beta2)
        exp_avg_sq.addcmul_(values, values, value=1.0 - beta2)
        state["exp_avg"].index_copy_(0, rows, exp_avg)
        state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
        # Tensor arithmetic on the step count, so that no value travels to the host.
        bias_correction1 = 1.0 - torch.pow(beta1, step)
        bias_correction2_sqrt = (1.0 - torch.pow(beta2, step)).sqrt()
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        param.index_add_(0, rows, exp_avg / denom * (-group["lr"] / bias_correction1))


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
