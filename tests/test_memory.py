"""saved_activation_bytes against the bytes an MLP's backward rules need, counted by hand."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl.memory import saved_activation_bytes


def _mlp(sizes, dtype=torch.float32):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1], dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _by_hand(n, sizes, itemsize):
    """Each Linear keeps its input (for dW = A^T dY), each ReLU its output, which is the next Linear's input:
    the input batch plus every hidden activation, once."""
    return n * (sizes[0] + sum(sizes[1:-1])) * itemsize


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 20), sizes=st.lists(st.integers(1, 12), min_size=2, max_size=6),
       double=st.booleans())
def test_equals_the_count_by_hand(n, sizes, double):
    dtype = torch.float64 if double else torch.float32
    model = _mlp(sizes, dtype)
    X = torch.randn(n, sizes[0], dtype=dtype)
    assert saved_activation_bytes(model, X) == _by_hand(n, sizes, 8 if double else 4)


def test_linear_in_depth_and_batch():
    b = {(d, n): saved_activation_bytes(_mlp([32] + [64] * d + [10]), torch.randn(n, 32))
         for d in (1, 2, 4) for n in (8, 16)}
    per_layer = b[(2, 8)] - b[(1, 8)]                            # one more hidden layer of 64: 8 * 64 * 4 bytes
    assert per_layer == 8 * 64 * 4 and b[(4, 8)] - b[(2, 8)] == 2 * per_layer
    assert b[(4, 16)] == 2 * b[(4, 8)]


def test_nothing_is_saved_without_a_graph():
    model = _mlp([8, 16, 4])
    X = torch.randn(5, 8)
    assert saved_activation_bytes(model, X, grad=False) == 0
    model.requires_grad_(False)                              # nothing requires grad: autograd keeps nothing either
    assert saved_activation_bytes(model, X) == 0


def test_tanh_saves_its_output_and_parameters_are_not_counted():
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Tanh(), torch.nn.Linear(10, 3))
    assert saved_activation_bytes(model, torch.randn(4, 6)) == 4 * (4 * 6 + 4 * 10)


def test_bad_model_is_refused():
    with pytest.raises(TypeError, match="model"):
        saved_activation_bytes(lambda x: x, torch.randn(2, 2))
