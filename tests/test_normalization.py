"""Batch normalization from scratch (troikadl.normalization, chapter 4) against PyTorch and Keras.

Forward, gradients and running statistics in training and evaluation mode, float64 and float32, with and
without the affine parameters and the running statistics; Keras with its own momentum convention and its
biased moving variance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.normalization import BatchNorm2d, batch_norm

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}     # max |ours - theirs| (outputs of order 1)
STEPS = 4                                              # training steps before comparing running statistics


def _pair(channels, dtype, **kw):
    """Our layer and torch's with the same random gamma and beta."""
    ours = BatchNorm2d(channels, **kw).to(dtype)
    ref = torch.nn.BatchNorm2d(channels, **kw).to(dtype)
    if ours.affine:
        with torch.no_grad():
            ours.weight.copy_(torch.randn(channels, dtype=dtype) + 1)
            ours.bias.copy_(torch.randn(channels, dtype=dtype))
            ref.weight.copy_(ours.weight)
            ref.bias.copy_(ours.bias)
    return ours, ref


def _batches(shape, dtype, n=STEPS, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype) * 3 + 2 for _ in range(n)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kw", [{}, {"affine": False}, {"momentum": 0.3, "eps": 1e-3},
                                {"track_running_stats": False}])
def test_matches_torch_in_both_modes(dtype, kw):
    torch.manual_seed(0)
    ours, ref = _pair(3, dtype, **kw)
    for x in _batches((5, 3, 4, 6), dtype):
        assert (ours(x) - ref(x)).abs().max() <= TOL[dtype]
    if ours.track_running_stats:
        assert (ours.running_mean - ref.running_mean).abs().max() <= TOL[dtype]
        assert (ours.running_var - ref.running_var).abs().max() <= TOL[dtype]
    ours.eval(); ref.eval()
    x = _batches((2, 3, 4, 6), dtype, n=1, seed=1)[0]
    assert (ours(x) - ref(x)).abs().max() <= TOL[dtype]


def test_gradients_match_torch():
    torch.manual_seed(1)
    ours, ref = _pair(4, torch.float64)
    x = _batches((6, 4, 3, 5), torch.float64, n=1)[0]
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    w = torch.randn(6, 4, 3, 5, dtype=torch.float64)
    (ours(x1) * w).sum().backward()
    (ref(x2) * w).sum().backward()
    assert (x1.grad - x2.grad).abs().max() <= 1e-12
    assert (ours.weight.grad - ref.weight.grad).abs().max() <= 1e-12
    assert (ours.bias.grad - ref.bias.grad).abs().max() <= 1e-12


def test_gradcheck_functional():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b), (x, w, b))


def test_training_output_is_normalized_and_running_var_is_unbiased():
    x = _batches((8, 2, 3, 3), torch.float64, n=1)[0]
    layer = BatchNorm2d(2, momentum=1.0).double()      # momentum 1: running stats = this batch's
    y = layer(x)
    assert y.mean(dim=(0, 2, 3)).abs().max() <= 1e-12
    assert (y.var(dim=(0, 2, 3), unbiased=False) - x.var(dim=(0, 2, 3), unbiased=False)
            / (x.var(dim=(0, 2, 3), unbiased=False) + layer.eps)).abs().max() <= 1e-12
    assert (layer.running_var - x.var(dim=(0, 2, 3), unbiased=True)).abs().max() <= 1e-12


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 4), h=st.integers(1, 4), w=st.integers(1, 4),
       momentum=st.floats(0.0, 1.0), affine=st.booleans())
def test_hypothesis_shapes_and_options(n, c, h, w, momentum, affine):
    if n * h * w < 2:
        return
    ours, ref = _pair(c, torch.float64, momentum=momentum, affine=affine)
    for x in _batches((n, c, h, w), torch.float64, n=2):
        assert (ours(x) - ref(x)).abs().max() <= 1e-10
    assert (ours.running_var - ref.running_var).abs().max() <= 1e-10
    ours.eval(); ref.eval()
    assert (ours(x) - ref(x)).abs().max() <= 1e-10


@pytest.mark.tf
@pytest.mark.parametrize("momentum", [0.99, 0.5])
def test_matches_keras_in_both_modes_with_its_convention(momentum):
    tk.import_tf()
    import keras

    theirs = keras.layers.BatchNormalization(axis=1, momentum=momentum, epsilon=1e-3, dtype="float64")
    theirs.build((None, 3, 4, 4))
    ours = BatchNorm2d(3, momentum=momentum, eps=1e-3, convention="keras").double()
    torch_style = BatchNorm2d(3, momentum=1 - momentum, eps=1e-3).double()   # same average, unbiased variance
    for x in _batches((5, 3, 4, 4), torch.float64):
        assert np.abs(np.array(theirs(x.numpy(), training=True)) - ours(x).detach().numpy()).max() <= 1e-12
        torch_style(x)
    assert np.abs(theirs.moving_mean.numpy() - ours.running_mean.numpy()).max() <= 1e-12
    assert np.abs(theirs.moving_variance.numpy() - ours.running_var.numpy()).max() <= 1e-12
    # Keras's moving variance uses the biased batch variance: torch's unbiased update differs from it.
    assert np.abs(theirs.moving_variance.numpy() - torch_style.running_var.numpy()).max() > 1e-3
    assert np.abs(theirs.moving_mean.numpy() - torch_style.running_mean.numpy()).max() <= 1e-12
    ours.eval()
    x = _batches((2, 3, 4, 4), torch.float64, n=1, seed=3)[0]
    assert np.abs(np.array(theirs(x.numpy(), training=False)) - ours(x).detach().numpy()).max() <= 1e-12


def test_defaults_follow_the_convention():
    assert BatchNorm2d(2).momentum == 0.1 and BatchNorm2d(2, convention="keras").momentum == 0.99


@pytest.mark.parametrize("call, err", [
    (lambda: BatchNorm2d(0), ValueError),
    (lambda: BatchNorm2d(2, momentum=1.5), ValueError),
    (lambda: BatchNorm2d(2, eps=0.0), ValueError),
    (lambda: BatchNorm2d(2, convention="jax"), ValueError),
    (lambda: BatchNorm2d(2)(torch.zeros(1, 3, 2, 2)), ValueError),
    (lambda: BatchNorm2d(2)(torch.zeros(1, 2, 1, 1)), ValueError),        # one value per channel in training
    (lambda: BatchNorm2d(2)(np.zeros((2, 2, 2, 2))), TypeError),
    (lambda: batch_norm(torch.zeros(4, 2), None, None, training=False), ValueError),
    (lambda: batch_norm(torch.zeros(4, 2), torch.zeros(2), None), ValueError),
    (lambda: batch_norm(torch.zeros(4, 2), torch.zeros(3), torch.ones(3)), ValueError),
])
def test_bad_input(call, err):
    with pytest.raises(err):
        call()
