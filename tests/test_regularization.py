"""Dropout from scratch against torch.nn.Dropout and keras.layers.Dropout (statistically), and EarlyStopping
against keras.callbacks.EarlyStopping.

Each dropout layer draws its own random mask, so outputs are compared in distribution, not element by
element: on N elements the fraction zeroed must lie within Z binomial standard errors sqrt(p(1-p)/N) of p
(Z = 5: a false alarm once in about 1.7 million runs per check). Kept values are x/(1-p): bit for bit equal to
torch's (both compute x * (1/(1-p))), and within KEPT_RTOL of the division (one rounding in float64).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.regularization import Dropout, EarlyStopping, dropout

N = 200_000  # elements in the statistical checks
Z = 5.0  # standard errors allowed
KEPT_RTOL = {torch.float64: 4e-16, torch.float32: 2e-7}  # x * (1/(1-p)) against x / (1-p): one rounding each
PS = [0.1, 0.3, 0.5, 0.8]


def _x(dtype=torch.float64, n=N, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=dtype) + 3.0  # no zeros: a zero output means dropped


def _zeroed_ok(out, p, n=N):
    frac = float((out == 0).double().mean())
    return abs(frac - p) <= Z * math.sqrt(p * (1 - p) / n), frac


# --- dropout: distribution, against torch ----------------------------------------------------------------


@pytest.mark.parametrize("p", PS)
def test_fraction_zeroed_matches_p_and_torch(p):
    x = _x()
    ours, theirs = dropout(x, p, generator=torch.Generator().manual_seed(1)), torch.nn.functional.dropout(x, p)
    for out in (ours, theirs):
        ok, frac = _zeroed_ok(out, p)
        assert ok, (p, frac)
    diff = float((ours == 0).double().mean() - (theirs == 0).double().mean())
    assert abs(diff) <= Z * math.sqrt(2 * p * (1 - p) / N), diff


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("p", PS)
def test_kept_values_are_x_over_one_minus_p_as_in_torch(p, dtype):
    x = _x(dtype)
    ours, theirs = dropout(x, p, generator=torch.Generator().manual_seed(2)), torch.nn.functional.dropout(x, p)
    assert ours.dtype == dtype and ours.shape == x.shape
    kept = ours != 0
    assert torch.equal(ours[kept & (theirs != 0)], theirs[kept & (theirs != 0)])  # the same arithmetic as torch
    exact = x.double()[kept] / (1 - p)
    assert torch.allclose(ours[kept].double(), exact, rtol=KEPT_RTOL[dtype], atol=0)


@pytest.mark.parametrize("p", PS)
def test_mean_is_preserved(p):
    x = _x()
    out = dropout(x, p, generator=torch.Generator().manual_seed(3))
    se = math.sqrt(float((x * x).sum()) * p / (1 - p)) / N  # var of x_i m_i/(1-p) is x_i^2 p/(1-p)
    assert abs(float(out.mean() - x.mean())) <= Z * se


def test_mask_is_independent_across_elements_and_calls():
    p, x = 0.5, _x()
    g = torch.Generator().manual_seed(4)
    a, b = dropout(x, p, generator=g) == 0, dropout(x, p, generator=g) == 0
    for pair in ((a[:-1], a[1:]), (a, b)):  # neighbours in one call; the same element in two calls
        both = float((pair[0] & pair[1]).double().mean())
        assert abs(both - p * p) <= Z * math.sqrt(p * p * (1 - p * p) / len(pair[0])), both


def test_generator_repeats_and_leaves_the_global_stream_alone():
    x = _x(n=1000)
    state = torch.random.get_rng_state()
    a = dropout(x, 0.4, generator=torch.Generator().manual_seed(7))
    b = dropout(x, 0.4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(torch.random.get_rng_state(), state)


# --- dropout: modes, gradient, edge cases ----------------------------------------------------------------


def test_evaluation_is_the_identity_like_torch():
    x = _x(n=1000)
    layer, ref = Dropout(0.5), torch.nn.Dropout(0.5)
    for m in (layer, ref):
        m.eval()
    assert torch.equal(layer(x), x) and torch.equal(ref(x), x)
    assert torch.equal(dropout(x, 0.9, training=False), x)
    layer.train()
    assert bool((layer(x) == 0).any())


def test_layer_in_a_model_follows_train_and_eval():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 64), Dropout(0.5), torch.nn.Linear(64, 2)).double()
    x = torch.randn(8, 4, dtype=torch.float64)
    model.eval()
    assert torch.equal(model(x), model(x))
    assert torch.allclose(torch.as_tensor(tk.predict(model, x)), model(x), rtol=0, atol=0)
    model.train()
    assert not torch.equal(model(x), model(x))
    assert "p=0.5" in repr(model[1])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_gradient_is_mask_over_one_minus_p(p):
    x = _x(n=5000).requires_grad_()
    upstream = torch.randn(5000, dtype=torch.float64)
    out = dropout(x, p, generator=torch.Generator().manual_seed(5))
    out.backward(upstream)
    mask = (out != 0).double()
    assert torch.allclose(x.grad, upstream * mask / (1 - p), rtol=KEPT_RTOL[torch.float64], atol=0)


def test_p_zero_and_p_one_as_torch():
    x = torch.tensor([1.5, -2.0, float("nan"), 0.0], dtype=torch.float64)
    assert torch.equal(dropout(x, 0.0), x) or torch.allclose(dropout(x, 0.0), x, equal_nan=True)
    for p in (0.0, 1.0):
        ours, theirs = dropout(x, p), torch.nn.functional.dropout(x, p)
        assert torch.allclose(ours, theirs, equal_nan=True), (p, ours, theirs)
    assert torch.equal(dropout(x[:2], 1.0), torch.zeros(2, dtype=torch.float64))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=4), p=st.floats(0.0, 0.95),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16))
def test_any_shape_and_rate(shape, p, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype) + 0.5
    out = dropout(x, p, generator=g)
    assert out.shape == x.shape and out.dtype == dtype
    kept = out != 0
    assert torch.allclose(out[kept].double(), x[kept].double() / (1 - p), rtol=KEPT_RTOL[dtype], atol=0)
    assert torch.equal(dropout(x, p, training=False), x)


@pytest.mark.parametrize("bad, error", [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                        ("0.5", TypeError), (True, TypeError), (None, TypeError)])
def test_bad_p_raises_naming_p(bad, error):
    x = _x(n=4)
    with pytest.raises(error, match=r"\bp\b"):
        dropout(x, bad)
    with pytest.raises(error, match=r"\bp\b"):
        Dropout(bad)


def test_other_bad_arguments():
    with pytest.raises(TypeError, match=r"\bx\b"):
        dropout(torch.arange(4), 0.5)
    with pytest.raises(TypeError, match=r"\bx\b"):
        dropout(np.ones(4), 0.5)
    with pytest.raises(TypeError, match="training"):
        dropout(_x(n=4), 0.5, training="yes")
    with pytest.raises(TypeError, match="generator"):
        dropout(_x(n=4), 0.5, generator=np.random.default_rng(0))


# --- against Keras -----------------------------------------------------------------------------------------


@pytest.mark.tf
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keras_dropout_statistics_and_modes(p):
    tk.import_tf()
    import keras

    x = _x(torch.float32)
    layer = keras.layers.Dropout(p, seed=11)
    theirs = torch.as_tensor(np.array(layer(x.numpy(), training=True)))
    ours = dropout(x, p, generator=torch.Generator().manual_seed(6))
    for out in (ours, theirs):
        ok, frac = _zeroed_ok(out, p)
        assert ok, (p, frac)
        kept = out != 0
        assert torch.allclose(out[kept].double(), x[kept].double() / (1 - p), rtol=KEPT_RTOL[torch.float32], atol=0)
    diff = float((ours == 0).double().mean() - (theirs == 0).double().mean())
    assert abs(diff) <= Z * math.sqrt(2 * p * (1 - p) / N), diff
    assert np.array_equal(np.array(layer(x.numpy(), training=False)), x.numpy())
    assert torch.equal(dropout(x, p, training=False), x)


# --- EarlyStopping -------------------------------------------------------------------------------------------


def _keras_stop(losses, patience, min_delta):
    """(best epoch, stopped epoch or None) of keras.callbacks.EarlyStopping fed ``losses``."""
    tk.import_tf()
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    cb = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta)
    cb.set_model(model)
    model.stop_training = False
    cb.on_train_begin()
    for epoch, loss in enumerate(losses):
        cb.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            return cb.best_epoch, epoch
    return cb.best_epoch, None


def _ours_stop(losses, patience, min_delta):
    stop = EarlyStopping(patience, min_delta=min_delta)
    for loss in losses:
        if stop.step(loss):
            break
    return stop.best_epoch, stop.stopped_epoch


@pytest.mark.tf
@settings(max_examples=60, deadline=None)
@given(losses=st.lists(st.one_of(st.integers(0, 24).map(lambda k: k / 8), st.just(float("nan"))), min_size=1,
                      max_size=25).filter(lambda v: not math.isnan(v[0])),  # Keras takes a NaN first epoch as
       patience=st.integers(0, 6), min_delta=st.sampled_from([0.0, 0.25]))  # its best; we never do
# Multiples of 1/8: Keras compares in float32, where they (and their differences) are exact as in float64.
def test_early_stopping_matches_keras(losses, patience, min_delta):
    assert _ours_stop(losses, patience, min_delta) == _keras_stop(losses, patience, min_delta)


def test_early_stopping_by_hand():
    assert _ours_stop([3, 2, 1, 1.5, 2, 2.5], 3, 0.0) == (2, 5)
    assert _ours_stop([3, 2, 1, 1.5, 2], 3, 0.0) == (2, None)
    assert _ours_stop([3, 2.99, 2.98, 2.97], 2, 0.05) == (0, 2)  # too-small improvements do not count
    assert _ours_stop([1, 2], 0, 0.0) == (0, 1)


def test_early_stopping_keeps_and_restores_the_best_weights():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    stop, snapshots = EarlyStopping(patience=2), []
    for loss in (3.0, 1.0, 2.0, 2.5):
        with torch.no_grad():
            model.weight.add_(1.0)  # a "training step"
        snapshots.append(copy.deepcopy(model.state_dict()))
        stop.step(loss, model)
    assert stop.should_stop and stop.best_epoch == 1 and stop.stopped_epoch == 3 and stop.best == 1.0
    stop.restore(model)
    assert torch.equal(model.weight, snapshots[1]["weight"]) and torch.equal(model.bias, snapshots[1]["bias"])
    with torch.no_grad():
        model.weight.zero_()  # the kept copy is independent of the model
    stop.restore(model)
    assert torch.equal(model.weight, snapshots[1]["weight"])


def test_early_stopping_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        EarlyStopping(2).restore(torch.nn.Linear(2, 2))
    for bad, error in ((-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="patience"):
            EarlyStopping(bad)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(2, min_delta=-0.1)
    with pytest.raises(TypeError, match="loss"):
        EarlyStopping(2).step("0.5")
    with pytest.raises(TypeError, match="model"):
        EarlyStopping(2).step(0.5, model="net")
