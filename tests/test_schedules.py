"""Learning-rate schedules (troikadl.schedules) against torch.optim.lr_scheduler and keras.optimizers.schedules.

Expected values come from the frameworks: a torch scheduler stepped t times on a real optimizer (its lr is
read from ``param_groups``, so CosineAnnealingLR's recursive form is what is compared), and a Keras schedule
called at step t (in float64, by passing float64 rates).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.optim import SGD
from troikadl.autograd import Tensor
from troikadl.schedules import cosine_lr, exponential_lr, step_lr, warmup_lr

TOL = 1e-12  # float64 on both sides (torch's recursive cosine accumulates a few ulps)
KERAS_F32_TOL = 1e-6  # relative: PiecewiseConstantDecay keeps its values in float32
L = torch.optim.lr_scheduler


def _torch_lrs(make, n, lr):
    """The lr that torch uses for each of the first n updates."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's and the "step order" user warnings
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(out)


_lr = st.floats(1e-4, 2.0)
_gamma = st.floats(0.05, 1.0)


@settings(max_examples=40, deadline=None)
@given(lr=_lr, step_size=st.integers(1, 12), gamma=_gamma, n=st.integers(1, 60))
def test_step_lr_equals_torch_steplr(lr, step_size, gamma, n):
    ours = [step_lr(t, lr, step_size, gamma) for t in range(n)]
    np.testing.assert_allclose(ours, _torch_lrs(lambda o: L.StepLR(o, step_size, gamma), n, lr), rtol=TOL, atol=0)


@settings(max_examples=40, deadline=None)
@given(lr=_lr, gamma=st.floats(0.5, 1.0), n=st.integers(1, 80))
def test_exponential_lr_equals_torch_exponentiallr(lr, gamma, n):
    ours = [exponential_lr(t, lr, gamma) for t in range(n)]
    np.testing.assert_allclose(ours, _torch_lrs(lambda o: L.ExponentialLR(o, gamma), n, lr), rtol=1e-10, atol=0)


@settings(max_examples=40, deadline=None)
@given(lr=_lr, total=st.integers(1, 80), frac=st.floats(0.0, 1.0))
def test_cosine_lr_equals_torch_cosineannealinglr_up_to_total_steps(lr, total, frac):
    min_lr = frac * lr
    ours = [cosine_lr(t, lr, total, min_lr) for t in range(total + 1)]
    theirs = _torch_lrs(lambda o: L.CosineAnnealingLR(o, total, min_lr), total + 1, lr)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12 * lr)


def test_cosine_lr_stays_at_min_lr_where_torch_rises_again():
    theirs = _torch_lrs(lambda o: L.CosineAnnealingLR(o, 10, 0.0), 21, 1.0)
    assert theirs[20] == pytest.approx(1.0) and theirs[10] == pytest.approx(0.0, abs=1e-15)  # torch: a full period
    assert cosine_lr(20, 1.0, 10) == 0.0 and cosine_lr(15, 1.0, 10, 0.1) == pytest.approx(0.1)


@settings(max_examples=40, deadline=None)
@given(lr=_lr, warmup=st.integers(1, 15), decay_steps=st.integers(1, 40), start=st.floats(0.01, 1.0),
       end=st.floats(0.0, 1.0), decay=st.sampled_from(["cosine", "linear"]))
def test_warmup_lr_equals_torch_linearlr_then_decay_in_sequentiallr(lr, warmup, decay_steps, start, end, decay):
    total = warmup + decay_steps
    min_lr = end * lr
    after = (lambda o: L.CosineAnnealingLR(o, decay_steps, min_lr)) if decay == "cosine" else \
        (lambda o: L.LinearLR(o, 1.0, end, decay_steps))
    theirs = _torch_lrs(lambda o: L.SequentialLR(o, [L.LinearLR(o, start, 1.0, warmup), after(o)], [warmup]),
                        total + 1, lr)
    ours = [warmup_lr(t, lr, warmup, total, decay, min_lr=min_lr, start_lr=start * lr) for t in range(total + 1)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12 * lr)


def test_warmup_lr_by_hand():
    assert [warmup_lr(t, 1.0, 4, 8, "linear") for t in range(10)] == [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0, 0]
    assert warmup_lr(6, 1.0, 4, 8) == pytest.approx(0.5) and warmup_lr(0, 1.0, 0, 8) == 1.0


@pytest.mark.tf
def test_schedules_equal_keras():
    tk.import_tf()
    import keras

    S = keras.optimizers.schedules
    f64 = np.float64  # float64 rates make Keras compute in float64
    rng = np.random.default_rng(0)
    for _ in range(6):
        lr, gamma = float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.3, 0.99))
        size, total, warm = int(rng.integers(1, 9)), int(rng.integers(5, 40)), int(rng.integers(1, 10))
        frac, start = float(rng.uniform(0, 0.5)), float(rng.uniform(0, 0.5))
        n = total + warm + 5

        def k(s):
            return np.array([float(s(t)) for t in range(n)])

        ts = range(n)
        np.testing.assert_allclose(k(S.ExponentialDecay(f64(lr), size, f64(gamma), staircase=True)),
                                   [step_lr(t, lr, size, gamma) for t in ts], rtol=TOL)
        bounds = [size * (i + 1) - 1 for i in range(n // size + 1)]  # Keras keeps the old value on a boundary
        pw = S.PiecewiseConstantDecay(bounds, [lr * gamma ** i for i in range(len(bounds) + 1)])
        np.testing.assert_allclose(k(pw), [step_lr(t, lr, size, gamma) for t in ts], rtol=KERAS_F32_TOL)
        np.testing.assert_allclose(k(S.ExponentialDecay(f64(lr), 1, f64(gamma))),
                                   [exponential_lr(t, lr, gamma) for t in ts], rtol=1e-10)
        np.testing.assert_allclose(k(S.CosineDecay(f64(lr), total, alpha=frac)),
                                   [cosine_lr(t, lr, total, frac * lr) for t in ts], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            k(S.CosineDecay(f64(start * lr), total, alpha=frac, warmup_target=f64(lr), warmup_steps=warm)),
            [warmup_lr(t, lr, warm, warm + total, min_lr=frac * lr, start_lr=start * lr) for t in ts],
            rtol=1e-10, atol=1e-12)


def test_an_optimizer_follows_a_schedule_like_torch():
    """One line per step sets the package optimizer's lr; torch's scheduler does the same to torch's SGD."""
    w0 = np.array([1.0, -2.0])
    p, tp = Tensor(w0.copy()), torch.nn.Parameter(torch.tensor(w0))
    opt, topt = SGD([p], lr=0.5, momentum=0.9), torch.optim.SGD([tp], lr=0.5, momentum=0.9)
    sched = L.CosineAnnealingLR(topt, 20)
    for t in range(20):
        opt.hyper["lr"] = cosine_lr(t, 0.5, 20)
        p.grad = 2 * p.data
        opt.step()
        tp.grad = 2 * tp.detach().clone()
        topt.step()
        sched.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("call, error, words", [
    (lambda: step_lr(-1, 0.1, 3), ValueError, "t must be >= 0"),
    (lambda: step_lr(1.5, 0.1, 3), TypeError, "t must be an? int"),
    (lambda: step_lr(1, 0.1, 0), ValueError, "step_size must be > 0"),
    (lambda: step_lr(1, 0.1, 3, gamma=0.0), ValueError, "gamma must be in"),
    (lambda: exponential_lr(1, -0.1, 0.9), ValueError, "lr must be > 0"),
    (lambda: exponential_lr(1, 0.1, 1.5), ValueError, "gamma must be in"),
    (lambda: cosine_lr(1, 0.1, 10, min_lr=0.2), ValueError, "min_lr must be in"),
    (lambda: cosine_lr(1, 0.1, 0), ValueError, "total_steps must be > 0"),
    (lambda: warmup_lr(1, 0.1, 10, 10), ValueError, "warmup_steps must be < total_steps"),
    (lambda: warmup_lr(1, 0.1, 2, 10, decay="step"), ValueError, "decay must be 'cosine' or 'linear'"),
    (lambda: warmup_lr(1, 0.1, 2, 10, start_lr=-1.0), ValueError, "start_lr must be in"),
])
def test_bad_arguments_raise(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_cosine_midpoint_by_hand():
    assert cosine_lr(5, 1.0, 10, 0.2) == pytest.approx(0.6) and cosine_lr(0, 1.0, 10, 0.2) == 1.0
    assert cosine_lr(10, 1.0, 10, 0.2) == pytest.approx(0.2) and math.isclose(exponential_lr(3, 2.0, 0.5), 0.25)
