"""The GRU from scratch against PyTorch (nn.GRU, nn.GRUCell) and Keras (GRU with reset_after True and False)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl import rnn

ATOL, RTOL = 1e-12, 1e-10  # float64 throughout: only rounding separates the implementations


def _x(seed=0, n=3, T=7, D=4):
    return np.random.default_rng(seed).normal(size=(n, T, D))


def _randomized(module, scale=0.8, seed=0):
    """Weights larger than the default initialization, so every term (b_hn included) moves the output."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, scale)
    return module


def test_gru_forward_equals_torch_with_an_initial_state():
    module = _randomized(torch.nn.GRU(4, 5, batch_first=True, dtype=torch.float64))
    w = rnn.from_torch(module)
    assert w.kind == "GRU" and w.gates == 3 and w.reset_after and w.b_hn.shape == (5,)
    x, h0 = _x(), np.random.default_rng(1).normal(size=(3, 5))
    ours, h = rnn.gru_forward(x, w, h0)
    theirs, ht = module(torch.as_tensor(x), torch.as_tensor(h0)[None])
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(h, ht[0].detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(h, ours[:, -1])


def test_gru_cell_equals_torch_gru_cell():
    """One step against ``nn.GRUCell`` (same parameters as a one-layer ``nn.GRU``), weights moved by hand."""
    cell = _randomized(torch.nn.GRUCell(3, 4, dtype=torch.float64), seed=2)
    H = 4
    b_hh = cell.bias_hh.detach().numpy()
    w = rnn.Weights(cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy(),
                    cell.bias_ih.detach().numpy() + np.r_[b_hh[:2 * H], np.zeros(H)], b_hn=b_hh[2 * H:])
    x, h = np.random.default_rng(3).normal(size=(2, 3)), np.random.default_rng(4).normal(size=(2, 4))
    expected = cell(torch.as_tensor(x), torch.as_tensor(h)).detach().numpy()
    np.testing.assert_allclose(rnn.gru_cell(x, h, w), expected, rtol=RTOL, atol=ATOL)


def test_gates_do_what_the_equations_say():
    """Update gate z = 1 (a huge b_z) keeps the state; z = 0 writes the candidate; reset r = 0 (a huge
    negative b_r) makes the candidate forget h: tanh(x W_in^T + b_in), plus b_hn only if reset_after=False."""
    w = rnn.Weights.random(3, 4, 3, seed=1)
    x, h = np.random.default_rng(5).normal(size=(2, 3)), np.random.default_rng(6).normal(size=(2, 4))
    shift = lambda block, value: np.r_[[0.0] * (4 * block), [value] * 4, [0.0] * (4 * (2 - block))]  # noqa: E731
    keep = dataclasses.replace(w, b=w.b + shift(1, 1e3))
    np.testing.assert_allclose(rnn.gru_cell(x, h, keep), h, atol=1e-12)
    for reset_after in (True, False):
        write = dataclasses.replace(w, b=w.b + shift(1, -1e3) + shift(0, -1e3), reset_after=reset_after)
        candidate = np.tanh(x @ w.W_ih[8:].T + w.b[8:] + (0 if reset_after else w.b_hn))
        np.testing.assert_allclose(rnn.gru_cell(x, h, write), candidate, atol=1e-12)


def test_to_torch_round_trip_and_an_independently_built_module_with_split_biases():
    w = rnn.Weights.random(3, 6, 3, seed=3)
    module = torch.nn.GRU(3, 6, batch_first=True, dtype=torch.float64)
    H = 6
    with torch.no_grad():  # r and z: only b_ih + b_hh matters, split 0.3/0.7; n: b_in and b_hn apart
        module.weight_ih_l0.copy_(torch.as_tensor(w.W_ih))
        module.weight_hh_l0.copy_(torch.as_tensor(w.W_hh))
        module.bias_ih_l0.copy_(torch.as_tensor(np.r_[0.3 * w.b[:2 * H], w.b[2 * H:]]))
        module.bias_hh_l0.copy_(torch.as_tensor(np.r_[0.7 * w.b[:2 * H], w.b_hn]))
    x = torch.as_tensor(_x(seed=8, D=3))
    converted = rnn.to_torch(w)
    assert isinstance(converted, torch.nn.GRU) and converted.batch_first
    with torch.no_grad():
        expected = module(x)[0].numpy()
        np.testing.assert_allclose(converted(x)[0].numpy(), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(rnn.gru_forward(x.numpy(), w)[0], expected, rtol=RTOL, atol=ATOL)
    back = rnn.from_torch(converted)
    for name in ("W_ih", "W_hh", "b", "b_hn"):
        np.testing.assert_allclose(getattr(back, name), getattr(w, name), rtol=0, atol=1e-15)


def test_the_two_reset_conventions_differ_on_the_same_weights():
    """Same weights, reset_after True and False: outputs differ by far more than rounding, and only the
    True convention equals nn.GRU (a bug swapping the conventions, or ignoring the flag, fails here)."""
    module = _randomized(torch.nn.GRU(4, 5, batch_first=True, dtype=torch.float64), seed=4)
    w = rnn.from_torch(module)
    x = _x(seed=2)
    after = rnn.gru_forward(x, w)[0]
    before = rnn.gru_forward(x, dataclasses.replace(w, reset_after=False))[0]
    theirs = module(torch.as_tensor(x))[0].detach().numpy()
    assert np.abs(after - theirs).max() <= ATOL
    assert np.abs(before - theirs).max() > 1e-2
    # b_hn must act inside the reset gate's product: dropping it changes the output too
    assert np.abs(rnn.gru_forward(x, dataclasses.replace(w, b_hn=np.zeros(5)))[0] - theirs).max() > 1e-2
    with pytest.raises(ValueError, match="reset_after=False, which torch.nn.GRU does not compute"):
        rnn.to_torch(dataclasses.replace(w, reset_after=False))


@given(n_in=st.integers(1, 4), hidden=st.integers(1, 5), bias=st.booleans(), batch_first=st.booleans(),
       n=st.integers(1, 3), T=st.integers(1, 6), with_state=st.booleans(), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_gru_configurations_equal_torch(n_in, hidden, bias, batch_first, n, T, with_state, seed):
    module = _randomized(torch.nn.GRU(n_in, hidden, bias=bias, batch_first=batch_first, dtype=torch.float64),
                         seed=seed)
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, T, n_in))
    h0 = r.normal(size=(n, hidden)) if with_state else None
    w = rnn.from_torch(module)
    tx = torch.as_tensor(x if batch_first else x.transpose(1, 0, 2))
    theirs, ht = module(tx, None if h0 is None else torch.as_tensor(h0)[None])
    theirs = theirs.detach().numpy()
    ours, h = rnn.gru_forward(x, w, h0)
    np.testing.assert_allclose(ours, theirs if batch_first else theirs.transpose(1, 0, 2), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(h, ht[0].detach().numpy(), rtol=RTOL, atol=ATOL)


def test_weights_random_draws_a_gru_in_order():
    r, k = np.random.default_rng(3), 1 / np.sqrt(5)
    w = rnn.Weights.random(4, 5, 3, seed=3)
    for got, shape in ((w.W_ih, (15, 4)), (w.W_hh, (15, 5)), (w.b, (15,)), (w.b_hn, (5,))):
        np.testing.assert_array_equal(got, r.uniform(-k, k, shape))
    assert w.reset_after and w.kind == "GRU"


_G = rnn.Weights.random(4, 5, 3)
_BAD = [
    (lambda: rnn.Weights(_G.W_ih, _G.W_hh, _G.b, b_hn=np.ones(4)), ValueError, r"b_hn must have shape \(hidden,\)"),
    (lambda: rnn.Weights(_G.W_ih, _G.W_hh, _G.b, b_hn=np.ones(5) * np.nan), ValueError, "b_hn must be finite"),
    (lambda: rnn.Weights(_G.W_ih, _G.W_hh, _G.b, reset_after="no"), TypeError, "reset_after"),
    (lambda: rnn.Weights(_G.W_ih, _G.W_hh, _G.b, "relu"), ValueError, "an LSTM or GRU: 'tanh'"),
    (lambda: rnn.Weights(np.ones((5, 4)), np.ones((5, 5)), np.ones(5), b_hn=np.ones(5)), ValueError,
     "b_hn and reset_after=False belong to a GRU"),
    (lambda: rnn.Weights(np.ones((5, 4)), np.ones((5, 5)), np.ones(5), reset_after=False), ValueError,
     "belong to a GRU"),
    (lambda: rnn.gru_cell(np.ones((2, 4)), np.zeros((2, 5)), rnn.Weights.random(4, 5, 4)), ValueError,
     r"weights must have 3 gate\(s\) stacked \(GRU\)"),
    (lambda: rnn.gru_cell(np.ones((2, 4)), np.zeros((3, 5)), _G), ValueError, r"h must have shape \(batch, hidden\)"),
    (lambda: rnn.gru_forward(np.ones((2, 3, 4)), _G, h0=np.zeros((2, 4))), ValueError, "h0 must have shape"),
    (lambda: rnn.gru_forward(np.ones((2, 3, 3)), _G), ValueError, "x must have 4 features"),
    (lambda: rnn.gru_forward(np.ones((2, 3, 4)), "w"), TypeError, "w must be rnn.Weights"),
]


@pytest.mark.parametrize("call, error, match", _BAD, ids=[m for _, _, m in _BAD])
def test_gru_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.tf
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_equals_keras_in_both_conventions(reset_after):
    """Our weights to a Keras GRU (gates reordered z, r, h) and a Keras GRU with random weights to ours."""
    tk.import_tf()
    import keras

    w = dataclasses.replace(rnn.Weights.random(4, 5, 3, seed=4), reset_after=reset_after)
    layer = rnn.to_keras(w)
    assert isinstance(layer, keras.layers.GRU) and layer.reset_after is reset_after
    x = _x(seed=5)
    ours = rnn.gru_forward(x, w)[0]
    np.testing.assert_allclose(ours, layer(x).numpy(), rtol=RTOL, atol=ATOL)
    other = rnn.gru_forward(x, dataclasses.replace(w, reset_after=not reset_after))[0]
    assert np.abs(other - layer(x).numpy()).max() > 1e-3  # the other convention is not what Keras computed


@pytest.mark.tf
@given(reset_after=st.booleans(), use_bias=st.booleans(), n_in=st.integers(1, 3), hidden=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_keras_grus_equal_ours(reset_after, use_bias, n_in, hidden, seed):
    tk.import_tf()
    import keras

    layer = keras.layers.GRU(hidden, reset_after=reset_after, use_bias=use_bias, return_sequences=True,
                             dtype="float64")
    layer.build((None, None, n_in))
    r = np.random.default_rng(seed)
    layer.set_weights([r.normal(size=a.shape) for a in layer.get_weights()])
    w = rnn.from_keras(layer)
    assert w.reset_after is reset_after
    x = r.normal(size=(2, 5, n_in))
    ours = rnn.gru_forward(x, w)[0]
    np.testing.assert_allclose(ours, layer(x).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours, rnn.to_keras(w)(x).numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.tf
def test_a_torch_gru_moved_to_keras_computes_the_same():
    """PyTorch -> ours -> Keras: the gate reordering and the two biases survive the trip."""
    tk.import_tf()
    module = _randomized(torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64), seed=6)
    x = _x(seed=7, D=3)
    layer = rnn.to_keras(rnn.from_torch(module))
    np.testing.assert_allclose(layer(x).numpy(), module(torch.as_tensor(x))[0].detach().numpy(),
                               rtol=RTOL, atol=ATOL)
