"""Row-wise Adam and clipping with sparse gradients, checked against dense references."""

from __future__ import annotations

import pytest
import torch

from rnntag.training.optim import RowAdam, clip_grad_norm, momentum_horizon


def sparse_gradient(rows: list[int], values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """An uncoalesced sparse gradient, as `nn.Embedding(sparse=True)` gives: a row may repeat."""
    return torch.sparse_coo_tensor(torch.tensor([rows]), values, shape, check_invariants=True)


@pytest.mark.parametrize("fused", [False, True])
def test_row_adam_equals_dense_adam(fused, generator):
    # beta1 0.5 gives a horizon of 24 steps: rows come back after short and long pauses.
    options = {"lr": 0.01, "betas": (0.5, 0.999), "fused": fused}
    assert momentum_horizon(0.5) == 24
    weight, bias = torch.randn(30, 4, generator=generator), torch.randn(3, generator=generator)
    rowwise = [torch.nn.Parameter(weight.clone()), torch.nn.Parameter(bias.clone())]
    dense = [torch.nn.Parameter(weight.clone()), torch.nn.Parameter(bias.clone())]
    row_optimizer, dense_optimizer = RowAdam(rowwise, **options), torch.optim.Adam(dense, **options)
    for step in range(120):
        # Rows 0-4 often, 5-24 now and then, 25-29 never; a row may repeat within a batch.
        rows = [step % 5, step % 5, 5 + (step * 7) % 20] if step % 3 else [step % 5]
        gradient = sparse_gradient(rows, torch.randn(len(rows), 4, generator=generator), (30, 4))
        bias_gradient = torch.randn(3, generator=generator)
        rowwise[0].grad, dense[0].grad = gradient, gradient.to_dense()
        rowwise[1].grad, dense[1].grad = bias_gradient.clone(), bias_gradient.clone()
        row_optimizer.step()
        dense_optimizer.step()
    assert torch.allclose(rowwise[0], dense[0], atol=1e-6)
    assert torch.equal(rowwise[1], dense[1])
    state, expected = row_optimizer.state[rowwise[0]], dense_optimizer.state[dense[0]]
    # Moments of recent rows are current; quiet ones catch up when they come back.
    assert torch.allclose(state["exp_avg_sq"][:5], expected["exp_avg_sq"][:5], rtol=1e-5)
    # Rows never touched neither move nor gather moments.
    assert torch.equal(rowwise[0].detach()[25:], weight[25:])
    assert state["exp_avg"][25:].abs().sum() == 0
    # The sparse gradient is left in place, as the stock optimisers leave theirs.
    assert rowwise[0].grad is not None and rowwise[0].grad.is_sparse


def test_row_adam_refuses_weight_decay_on_sparse_gradients():
    param = torch.nn.Parameter(torch.zeros(4, 2))
    param.grad = sparse_gradient([1], torch.ones(1, 2), (4, 2))
    with pytest.raises(ValueError, match="weight decay"):
        RowAdam([param], weight_decay=0.1).step()


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
