"""Stacked and bidirectional networks from the course's cells against nn.RNN/GRU/LSTM(num_layers, bidirectional)
and Keras's Bidirectional, and the property that defines the backward direction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl import rnn

ATOL, RTOL = 1e-12, 1e-10  # float64 throughout: only rounding separates the implementations
MODULES = {"RNN": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}


def _module(cell, n_in, hidden, layers, bidirectional, seed=0, **kw):
    torch.manual_seed(seed)
    module = MODULES[cell](n_in, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True,
                           dtype=torch.float64, **kw)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.7)
    return module.eval()


def _compare_with_torch(module, x, h0=None, c0=None):
    layers = rnn.stacked_from_torch(module)
    ours, state = rnn.stacked_forward(x, layers, h0, c0)
    t = lambda a: None if a is None else torch.as_tensor(a)  # noqa: E731
    with torch.no_grad():
        if isinstance(module, torch.nn.LSTM):
            theirs, (ht, ct) = module(t(x), None if h0 is None else (t(h0), t(c0)))
            np.testing.assert_allclose(state[1], ct.numpy(), rtol=RTOL, atol=ATOL)
            state = state[0]
        else:
            theirs, ht = module(t(x), t(h0))
    assert ours.shape == theirs.shape and state.shape == ht.shape
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state, ht.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_two_layer_bidirectional_equals_torch(cell):
    """``nn.LSTM(num_layers=2, bidirectional=True)`` (and RNN, GRU): outputs (batch, time, 2H) and the final
    states (4, batch, H) in PyTorch's order, with and without initial states."""
    module = _module(cell, 3, 5, 2, True)
    x = np.random.default_rng(1).normal(size=(4, 6, 3))
    layers = rnn.stacked_from_torch(module)
    assert len(layers) == 2 and all(len(pair) == 2 for pair in layers)
    assert [w.W_ih.shape[1] for pair in layers for w in pair] == [3, 3, 10, 10]
    _compare_with_torch(module, x)
    r = np.random.default_rng(2)
    h0, c0 = r.normal(size=(4, 4, 5)), (r.normal(size=(4, 4, 5)) if cell == "LSTM" else None)
    _compare_with_torch(module, x, h0, c0)


@given(cell=st.sampled_from(["tanh", "relu", "GRU", "LSTM"]), layers=st.integers(1, 3), bidirectional=st.booleans(),
       bias=st.booleans(), n_in=st.integers(1, 4), hidden=st.integers(1, 4), n=st.integers(1, 3),
       T=st.integers(1, 5), with_state=st.booleans(), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_stacks_equal_torch(cell, layers, bidirectional, bias, n_in, hidden, n, T, with_state, seed):
    kw = {"nonlinearity": cell} if cell in ("tanh", "relu") else {}
    module = _module("RNN" if kw else cell, n_in, hidden, layers, bidirectional, seed=seed % 1000, bias=bias, **kw)
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, T, n_in))
    shape = (layers * (2 if bidirectional else 1), n, hidden)
    h0 = r.normal(size=shape) if with_state else None
    c0 = r.normal(size=shape) if with_state and cell == "LSTM" else None
    _compare_with_torch(module, x, h0, c0)


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_each_direction_reads_only_its_side_of_the_sequence(cell):
    """The defining property, with no framework involved: at step t the forward half depends on x[:, :t+1]
    only and the backward half on x[:, t:] only. Changing the last input moves every backward output but
    no earlier forward output; changing the first input moves every forward output but no later backward
    one. (A backward direction whose outputs are not reversed back fails this.)"""
    H = 4
    layers = rnn.stacked_from_torch(_module(cell, 3, H, 1, True, seed=3))
    x = np.random.default_rng(4).normal(size=(2, 5, 3))
    base = rnn.stacked_forward(x, layers)[0]
    T = x.shape[1]
    for t in (T - 1, 0):
        moved = x.copy()
        moved[:, t] += 1.0
        changed = np.abs(rnn.stacked_forward(moved, layers)[0] - base).max(axis=0)  # (time, 2H)
        fwd, bwd = changed[:, :H].max(axis=1), changed[:, H:].max(axis=1)
        if t == T - 1:  # the last input: no earlier forward output moves, every backward output does
            assert np.all(fwd[:t] == 0) and fwd[t] > 1e-6 and np.all(bwd > 1e-6)
        else:  # the first input: every forward output moves, no later backward output does
            assert np.all(fwd > 1e-6) and bwd[0] > 1e-6 and np.all(bwd[1:] == 0)


def test_a_stack_is_its_layers_applied_in_turn():
    """One entry per layer: two one-direction GRU layers equal the second GRU run on the first's outputs."""
    w1, w2 = rnn.Weights.random(3, 4, 3, seed=1), rnn.Weights.random(4, 4, 3, seed=2)
    x = np.random.default_rng(5).normal(size=(2, 6, 3))
    out, h_n = rnn.stacked_forward(x, [w1, w2])
    first, h1 = rnn.gru_forward(x, w1)
    second, h2 = rnn.gru_forward(first, w2)
    np.testing.assert_array_equal(out, second)
    np.testing.assert_array_equal(h_n, np.stack([h1, h2]))


@pytest.mark.parametrize("call, error, match", [
    (lambda: rnn.stacked_forward(np.ones((2, 3, 3)), [rnn.Weights.random(3, 4, 3)], c0=np.zeros((1, 2, 4))),
     ValueError, "c0 is an LSTM's memory cell"),
    (lambda: rnn.stacked_forward(np.ones((2, 3, 3)), [rnn.Weights.random(3, 4), rnn.Weights.random(3, 4)]),
     ValueError, r"layers\[1\] must take the 4 features the layer below outputs"),
    (lambda: rnn.stacked_forward(np.ones((2, 3, 3)), [rnn.Weights.random(3, 4), rnn.Weights.random(4, 5)]),
     ValueError, r"layers\[1\] must be a RNN with hidden=4"),
    (lambda: rnn.stacked_forward(np.ones((2, 3, 3)), [rnn.Weights.random(3, 4)], h0=np.zeros((2, 2, 4))),
     ValueError, r"h0 must have shape \(layers \* directions, batch, hidden\) = \(1, 2, 4\)"),
    (lambda: rnn.stacked_forward(np.ones((2, 3, 5)), [rnn.Weights.random(3, 4)]), ValueError, "x must have 3 features"),
    (lambda: rnn.stacked_forward(np.ones((2, 3, 3)), []), TypeError, "layers must be a non-empty list"),
    (lambda: rnn.stacked_from_torch(torch.nn.LSTM(2, 3, proj_size=2)), ValueError, "proj_size=2 is not supported"),
    (lambda: rnn.stacked_from_torch(torch.nn.Linear(2, 3)), TypeError, "module must be a torch.nn.RNN"),
    (lambda: rnn.stacked_from_keras("lstm"), TypeError, "layers must be a non-empty list"),
])
def test_stacked_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _keras_stack(cell, bidirectional, seed, **kw):
    import keras

    def layer():
        one = getattr(keras.layers, cell)(4, return_sequences=True, dtype="float64", **kw)
        return keras.layers.Bidirectional(one, merge_mode="concat", dtype="float64") if bidirectional else one

    model = keras.Sequential([keras.Input((None, 3), dtype="float64"), layer(), layer()])
    r = np.random.default_rng(seed)
    model.set_weights([0.7 * r.normal(size=a.shape) for a in model.get_weights()])
    return model


@pytest.mark.tf
@pytest.mark.parametrize("cell, kw", [("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}),
                                      ("SimpleRNN", {})], ids=["LSTM", "GRU-after", "GRU-before", "SimpleRNN"])
def test_keras_bidirectional_stacked_twice_equals_ours(cell, kw):
    """``Bidirectional(LSTM(..., return_sequences=True))`` twice, merge_mode="concat" (and GRU in both
    reset conventions, SimpleRNN); and one-direction stacks."""
    tk.import_tf()
    x = np.random.default_rng(6).normal(size=(3, 7, 3))
    for bidirectional in (True, False):
        model = _keras_stack(cell, bidirectional, seed=7, **kw)
        layers = rnn.stacked_from_keras(model.layers)
        assert all(isinstance(e, tuple) == bidirectional for e in layers)
        ours = rnn.stacked_forward(x, layers)[0]
        assert ours.shape == (3, 7, 8 if bidirectional else 4)
        np.testing.assert_allclose(ours, model(x).numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.tf
def test_stacked_from_keras_rejects_what_it_does_not_model():
    tk.import_tf()
    import keras

    with pytest.raises(ValueError, match="merge_mode='sum' is not supported"):
        rnn.stacked_from_keras([keras.layers.Bidirectional(keras.layers.LSTM(2), merge_mode="sum")])
    with pytest.raises(TypeError, match=r"layers\[0\] must be a keras.layers.SimpleRNN, GRU or LSTM, got Dense"):
        rnn.stacked_from_keras([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"layers\[0\] must be built"):
        rnn.stacked_from_keras([keras.layers.LSTM(2)])
