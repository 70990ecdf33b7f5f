"""RNN and LSTM cells from scratch against PyTorch and Keras, weight maps, clipping, the adding problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import troikadl as tk
from troikadl import rnn


def _x(seed=0, n=3, T=7, D=4):
    return np.random.default_rng(seed).normal(size=(n, T, D))


@pytest.mark.parametrize("gates", [1, 4])
def test_forward_equals_torch(gates):
    torch.manual_seed(0)
    module = (torch.nn.LSTM if gates == 4 else torch.nn.RNN)(4, 5, batch_first=True, dtype=torch.float64)
    w = rnn.from_torch(module)
    x = _x()
    h0 = np.random.default_rng(1).normal(size=(3, 5))
    if gates == 4:
        c0 = np.random.default_rng(2).normal(size=(3, 5))
        ours, (h, c) = rnn.lstm_forward(x, w, h0, c0)
        theirs, (ht, ct) = module(torch.as_tensor(x), (torch.as_tensor(h0)[None], torch.as_tensor(c0)[None]))
        assert np.abs(c - ct[0].detach().numpy()).max() <= 1e-12
    else:
        ours, h = rnn.rnn_forward(x, w, h0)
        theirs, ht = module(torch.as_tensor(x), torch.as_tensor(h0)[None])
    assert np.abs(ours - theirs.detach().numpy()).max() <= 1e-12
    assert np.abs(h - ht[0].detach().numpy()).max() <= 1e-12


@pytest.mark.parametrize("gates", [1, 4])
def test_round_trip_through_torch(gates):
    w = rnn.Weights.random(3, 6, gates, seed=3)
    back = rnn.from_torch(rnn.to_torch(w))
    for a, b in ((w.W_ih, back.W_ih), (w.W_hh, back.W_hh), (w.b, back.b)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.tf
@pytest.mark.parametrize("gates", [1, 4])
def test_forward_equals_keras(gates):
    tk.import_tf()
    w = rnn.Weights.random(4, 5, gates, seed=4)
    layer = rnn.to_keras(w)
    x = _x(seed=5)
    ours = (rnn.lstm_forward if gates == 4 else rnn.rnn_forward)(x, w)[0]
    assert np.abs(ours - layer(x).numpy()).max() <= 1e-12
    back = rnn.from_keras(layer)
    np.testing.assert_array_equal(back.W_hh, w.W_hh)


def test_clip_grad_norm_equals_torch():
    rng = np.random.default_rng(6)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.as_tensor(g.copy())
    norm_t = torch.nn.utils.clip_grad_norm_(params, 1.0)
    clipped, norm = rnn.clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(float(norm_t), rel=1e-12)
    for c, p in zip(clipped, params):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)
    small, _ = rnn.clip_grad_norm([g * 1e-3 for g in grads], 1.0)
    np.testing.assert_allclose(small[0], grads[0] * 1e-3)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        rnn.clip_grad_norm(grads, 0)


def test_clear_errors():
    w = rnn.Weights.random(4, 5, 4)
    with pytest.raises(ValueError, match="x must be 3-D"):
        rnn.lstm_forward(np.ones((3, 4)), w)
    with pytest.raises(ValueError, match="x must have 4 features per time step"):
        rnn.lstm_forward(np.ones((3, 2, 6)), w)
    with pytest.raises(ValueError, match=r"h0 must have shape \(batch, hidden\) = \(3, 5\)"):
        rnn.lstm_forward(_x(), w, h0=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="weights must have 1 gate"):
        rnn.rnn_forward(_x(), w)
    with pytest.raises(ValueError, match="only single-layer"):
        rnn.from_torch(torch.nn.LSTM(2, 3, num_layers=2))


def test_adding_problem():
    X, y = tk.data.adding_problem(500, 20, seed=1)
    assert X.shape == (500, 20, 2) and y.shape == (500,)
    assert (X[:, :, 1].sum(1) == 2).all()
    np.testing.assert_allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(1), rtol=1e-6)
    assert abs(np.mean((y - 1) ** 2) - 1 / 6) < 0.03
    X2, _ = tk.data.adding_problem(500, 20, seed=1)
    assert np.array_equal(X, X2)
    with pytest.raises(ValueError, match="length must be at least 2"):
        tk.data.adding_problem(5, 1)


@pytest.mark.tf
def test_clip_grad_norm_equals_tensorflow():
    tf = tk.import_tf()
    rng = np.random.default_rng(7)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    clipped_tf, norm_tf = tf.clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    clipped, norm = rnn.clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(float(norm_tf), rel=1e-12)
    for c, t in zip(clipped, clipped_tf):
        np.testing.assert_allclose(c, t.numpy(), rtol=1e-5)  # torch and ours add 1e-6 to the norm; TF does not
