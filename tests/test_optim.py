"""Every optimizer, step by step, against torch.optim and keras.optimizers (float64: 1e-12 and 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import troikadl as tk
from troikadl.autograd import Tensor
from troikadl.optim import SGD, Adam, AdamW, RMSProp

STEPS = 100


def _grads(seed: int = 0, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), [rng.normal(size=shape) for _ in range(STEPS)]


def _ours(cls, kwargs, convention="torch", seed=0):
    w0, grads = _grads(seed)
    p = Tensor(w0.copy())
    opt = cls([p], convention=convention, **kwargs)
    for g in grads:
        p.grad = g
        opt.step()
    return p.data


TORCH = [
    (SGD, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, torch.optim.SGD,
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (SGD, {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}, torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    (RMSProp, {}, torch.optim.RMSprop, {}),
    (RMSProp, {"lr": 0.003, "rho": 0.9, "weight_decay": 0.01}, torch.optim.RMSprop,
     {"lr": 0.003, "alpha": 0.9, "weight_decay": 0.01}),
    (Adam, {}, torch.optim.Adam, {}),
    (Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}, torch.optim.Adam,
     {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    (AdamW, {}, torch.optim.AdamW, {}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.1}, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("ours, kw, theirs, tkw", TORCH, ids=[f"{c.__name__}{k}" for c, k, *_ in TORCH])
def test_matches_torch_step_by_step(ours, kw, theirs, tkw):
    w0, grads = _grads()
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = theirs([tp], **tkw)
    p = Tensor(w0.copy())
    opt = ours([p], **kw)
    worst = 0.0
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
        p.grad = g
        opt.step()
        worst = max(worst, float(np.abs(p.data - tp.detach().numpy()).max()))
    assert worst <= 1e-12, worst


KERAS = [
    (SGD, {"lr": 0.1}, "SGD", {"learning_rate": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9}, "SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, "SGD",
     {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    (SGD, {"lr": 0.05, "weight_decay": 0.1}, "SGD", {"learning_rate": 0.05, "weight_decay": 0.1}),
    (RMSProp, {}, "RMSprop", {}),
    (RMSProp, {"lr": 0.01, "rho": 0.95, "weight_decay": 0.01}, "RMSprop",
     {"learning_rate": 0.01, "rho": 0.95, "weight_decay": 0.01}),
    (Adam, {}, "Adam", {}),
    (Adam, {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05}, "Adam",
     {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "weight_decay": 0.05}),
    (AdamW, {}, "AdamW", {}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.1}, "AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.tf
@pytest.mark.parametrize("ours, kw, theirs, kkw", KERAS, ids=[f"{c.__name__}{k}" for c, k, *_ in KERAS])
def test_matches_keras_step_by_step(ours, kw, theirs, kkw):
    tk.import_tf()
    import keras

    w0, grads = _grads(seed=1)
    var = keras.Variable(w0, dtype="float64")  # float64, so that only the formulas can differ
    kopt = getattr(keras.optimizers, theirs)(**kkw)
    p = Tensor(w0.copy())
    opt = ours([p], convention="keras", **kw)
    worst = 0.0
    for g in grads:
        kopt.apply_gradients([(g, var)])
        p.grad = g
        opt.step()
        worst = max(worst, float(np.abs(p.data - var.numpy()).max()))
    assert worst <= 1e-10, worst  # the issue asks 1e-6; in float64 the formulas agree to ~1e-14


def test_conventions_differ_where_they_should():
    for cls in (RMSProp, Adam, AdamW):
        assert cls([Tensor(np.zeros(1))]).hyper != cls([Tensor(np.zeros(1))], convention="keras").hyper
    a = _ours(Adam, {"eps": 1e-8}, "torch")
    b = _ours(Adam, {"eps": 1e-8}, "keras")
    assert 0 < np.abs(a - b).max() < 1e-5  # only where eps goes differs: a small, real difference


def test_adamw_decays_weights_without_gradient_scaling():
    p = Tensor(np.array([10.0, 10.0]))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = np.array([0.0, 1e6])
    opt.step()
    # entry 0: only the decay acts; 10 * (1 - 0.1 * 0.5)
    assert p.data[0] == pytest.approx(9.5)


def test_parameters_without_grad_are_skipped():
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt = SGD([a, b], lr=0.5)
    a.grad = np.ones(2)
    opt.step()
    assert a.data.tolist() == [0.5, 0.5] and b.data.tolist() == [1.0, 1.0]
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("make, words", [
    (lambda p: SGD(p, lr=-0.1), "lr must be > 0"),
    (lambda p: SGD(p, lr=0.1, momentum=1.0), r"momentum must be in \[0.0, 1.0\)"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be in \[0.0, 1.0\)"),
    (lambda p: Adam(p, betas=(-0.1, 0.9)), r"betas\[0\] must be in"),
    (lambda p: RMSProp(p, eps=0.0), "eps must be > 0"),
    (lambda p: AdamW(p, weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda p: Adam(p, convention="jax"), "convention must be"),
    (lambda p: Adam([]), "at least one parameter"),
])
def test_bad_hyperparameters_raise(make, words):
    with pytest.raises(ValueError, match=words):
        make([Tensor(np.zeros(2))])


def test_params_must_be_tensors():
    with pytest.raises(TypeError, match="params must have .data and .grad"):
        SGD([np.zeros(2)], lr=0.1)
