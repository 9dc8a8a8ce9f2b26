"""Row-wise Adam and clipping with sparse gradients, checked against dense references."""

from __future__ import annotations

import pytest
import torch

from rnntag.optim import RowAdam, clip_grad_norm


def sparse_gradient(rows: list[int], values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """An uncoalesced sparse gradient, as `nn.Embedding(sparse=True)` gives: a row may repeat."""
    return torch.sparse_coo_tensor(torch.tensor([rows]), values, shape, check_invariants=True)


def reference_row_adam(
    weight: torch.Tensor, steps: list[torch.Tensor], lr: float, weight_decay: float
) -> torch.Tensor:
    """Adam written out row by row: a row moves, and its moments change, only at the steps
    whose gradient touches it; bias correction counts every step."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    weight = weight.clone().double()
    exp_avg, exp_avg_sq = torch.zeros_like(weight), torch.zeros_like(weight)
    for step, gradient in enumerate(steps, start=1):
        dense = gradient.to_dense().double()
        for row in gradient.coalesce().indices()[0].tolist():
            grad = dense[row] + weight_decay * weight[row]
            exp_avg[row] = beta1 * exp_avg[row] + (1 - beta1) * grad
            exp_avg_sq[row] = beta2 * exp_avg_sq[row] + (1 - beta2) * grad * grad
            denom = (exp_avg_sq[row] / (1 - beta2**step)).sqrt() + eps
            weight[row] -= lr / (1 - beta1**step) * exp_avg[row] / denom
    return weight.float()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_row_adam_equals_the_row_by_row_reference(weight_decay, generator):
    weight = torch.randn(12, 5, generator=generator)
    touched = [[1, 4, 4, 7], [4, 9], [0, 1, 1, 1], [11]]
    steps = [
        sparse_gradient(rows, torch.randn(len(rows), 5, generator=generator), (12, 5))
        for rows in touched
    ]
    param = torch.nn.Parameter(weight.clone())
    optimizer = RowAdam([param], lr=0.01, weight_decay=weight_decay)
    for gradient in steps:
        param.grad = gradient
        optimizer.step()
    expected = reference_row_adam(weight, steps, 0.01, weight_decay)
    assert torch.allclose(param.detach(), expected, atol=1e-6)
    # Rows no batch touched are exactly as they were, and have no moments.
    untouched = sorted(set(range(12)) - {row for rows in touched for row in rows})
    assert torch.equal(param.detach()[untouched], weight[untouched])
    assert optimizer.state[param]["exp_avg"][untouched].abs().sum() == 0
    assert optimizer.state[param]["step"].item() == len(steps)


def test_row_adam_takes_the_dense_adam_step_on_dense_gradients_and_first_steps(generator):
    # From fresh moments, Adam moves rows with zero gradient by exactly 0: one row-wise step
    # equals one dense step everywhere.
    weight, other = torch.randn(10, 3, generator=generator), torch.randn(4, generator=generator)
    rows, values = [2, 5, 2], torch.randn(3, 3, generator=generator)
    other_grad = torch.randn(4, generator=generator)
    rowwise = [torch.nn.Parameter(weight.clone()), torch.nn.Parameter(other.clone())]
    dense = [torch.nn.Parameter(weight.clone()), torch.nn.Parameter(other.clone())]
    rowwise[0].grad = sparse_gradient(rows, values, (10, 3))
    dense[0].grad = rowwise[0].grad.to_dense()
    rowwise[1].grad, dense[1].grad = other_grad.clone(), other_grad.clone()
    RowAdam(rowwise, lr=0.1, fused=True).step()
    torch.optim.Adam(dense, lr=0.1, fused=True).step()
    assert torch.allclose(rowwise[0], dense[0], atol=1e-6)
    assert torch.equal(rowwise[1], dense[1])
    # The sparse gradient is left in place, as the stock optimisers leave theirs.
    assert rowwise[0].grad is not None and rowwise[0].grad.is_sparse


def test_row_adam_state_round_trips_through_state_dict(generator):
    def run(split: bool) -> torch.Tensor:
        param = torch.nn.Parameter(torch.ones(6, 2))
        optimizer = RowAdam([param], lr=0.1)
        for step in range(4):
            if split and step == 2:
                state = optimizer.state_dict()
                optimizer = RowAdam([param], lr=0.1)
                optimizer.load_state_dict(state)
            param.grad = sparse_gradient([step, step + 1], torch.full((2, 2), 1.0 + step), (6, 2))
            optimizer.step()
        return param.detach().clone()

    assert torch.equal(run(split=True), run(split=False))


def test_clipping_counts_sparse_rows_as_their_dense_gradient(generator):
    rows, values = [3, 0, 3], torch.randn(3, 4, generator=generator)
    dense_grad = torch.randn(5, generator=generator)
    sparse_params = [torch.nn.Parameter(torch.zeros(6, 4)), torch.nn.Parameter(torch.zeros(5))]
    dense_params = [torch.nn.Parameter(torch.zeros(6, 4)), torch.nn.Parameter(torch.zeros(5))]
    sparse_params[0].grad = sparse_gradient(rows, values, (6, 4))
    dense_params[0].grad = sparse_params[0].grad.to_dense()
    sparse_params[1].grad, dense_params[1].grad = dense_grad.clone(), dense_grad.clone()
    norm = clip_grad_norm(sparse_params, 0.5)
    expected = torch.nn.utils.clip_grad_norm_(dense_params, 0.5)
    assert norm.item() == pytest.approx(expected.item(), rel=1e-6)
    assert sparse_params[0].grad.is_sparse
    assert torch.allclose(sparse_params[0].grad.to_dense(), dense_params[0].grad, atol=1e-7)
    assert torch.allclose(sparse_params[1].grad, dense_params[1].grad, atol=1e-7)


def test_clipping_leaves_small_gradients_alone(generator):
    param = torch.nn.Parameter(torch.zeros(4, 2))
    values = torch.full((2, 2), 0.1)
    param.grad = sparse_gradient([1, 2], values, (4, 2))
    clip_grad_norm([param], 5.0)
    assert torch.allclose(param.grad.to_dense()[1:3], values)
