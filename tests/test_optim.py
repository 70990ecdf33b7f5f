"""Every optimizer, step by step, against torch.optim and keras.optimizers, and the test functions.

Tolerances (float64): 1e-12 against torch.optim on fixed cases, rtol 1e-9 / atol 1e-12 on random ones;
1e-10 against keras.optimizers (the issue asks 1e-6; the formulas agree to ~1e-14).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.autograd import Tensor
from troikadl.landscapes import ROSENBROCK, VALLEY, Landscape, descend
from troikadl.optim import SGD, AdaGrad, Adam, AdamW, RMSProp

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
    (AdaGrad, {}, torch.optim.Adagrad, {}),
    (AdaGrad, {"lr": 0.1, "initial_accumulator_value": 0.3, "eps": 1e-6, "weight_decay": 0.05}, torch.optim.Adagrad,
     {"lr": 0.1, "initial_accumulator_value": 0.3, "eps": 1e-6, "weight_decay": 0.05}),
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
    (AdaGrad, {}, "Adagrad", {}),  # Keras: the accumulator starts at 0.1 (float32), eps inside the root
    (AdaGrad, {"lr": 0.1, "initial_accumulator_value": 0.0, "eps": 1e-4, "weight_decay": 0.05}, "Adagrad",
     {"learning_rate": 0.1, "initial_accumulator_value": 0.0, "epsilon": 1e-4, "weight_decay": 0.05}),
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


# --- random configurations: hyper-parameters, several parameters, missing gradients ---------------

_lr = st.floats(1e-4, 1.0)
_unit = st.floats(0.0, 0.999)  # momentum, rho, betas: [0, 1)
_eps = st.floats(1e-10, 1e-3)
_wd = st.one_of(st.just(0.0), st.floats(1e-4, 0.5))


@st.composite
def _sgd(draw):
    mu = draw(st.one_of(st.just(0.0), _unit))
    return {"lr": draw(_lr), "momentum": mu, "nesterov": mu > 0 and draw(st.booleans()), "weight_decay": draw(_wd)}


@st.composite
def _rmsprop(draw):
    return {"lr": draw(_lr), "rho": draw(_unit), "eps": draw(_eps), "weight_decay": draw(_wd)}


@st.composite
def _adagrad(draw):
    return {"lr": draw(_lr), "initial_accumulator_value": draw(st.one_of(st.just(0.0), st.floats(1e-3, 1.0))),
            "eps": draw(_eps), "weight_decay": draw(_wd)}


@st.composite
def _adam(draw):
    return {"lr": draw(_lr), "betas": (draw(_unit), draw(_unit)), "eps": draw(_eps), "weight_decay": draw(_wd)}


HYPER = {SGD: _sgd(), AdaGrad: _adagrad(), RMSProp: _rmsprop(), Adam: _adam(), AdamW: _adam()}


def _torch_kwargs(cls, hp):
    if cls is RMSProp:
        return {"lr": hp["lr"], "alpha": hp["rho"], "eps": hp["eps"], "weight_decay": hp["weight_decay"]}
    return dict(hp)


def _torch_class(cls):
    return {SGD: torch.optim.SGD, AdaGrad: torch.optim.Adagrad, RMSProp: torch.optim.RMSprop, Adam: torch.optim.Adam,
            AdamW: torch.optim.AdamW}[cls]


def _keras_optimizer(cls, hp):
    import keras

    wd = hp["weight_decay"] if cls is AdamW else hp["weight_decay"] or None  # AdamW refuses None
    if cls is SGD:
        return keras.optimizers.SGD(learning_rate=hp["lr"], momentum=hp["momentum"], nesterov=hp["nesterov"],
                                    weight_decay=wd)
    if cls is AdaGrad:
        return keras.optimizers.Adagrad(learning_rate=hp["lr"], initial_accumulator_value=hp["initial_accumulator_value"],
                                        epsilon=hp["eps"], weight_decay=wd)
    if cls is RMSProp:
        return keras.optimizers.RMSprop(learning_rate=hp["lr"], rho=hp["rho"], epsilon=hp["eps"], weight_decay=wd)
    b1, b2 = hp["betas"]
    return getattr(keras.optimizers, cls.__name__)(learning_rate=hp["lr"], beta_1=b1, beta_2=b2,
                                                   epsilon=hp["eps"], weight_decay=wd)


_SHAPES = st.sampled_from([(), (1,), (3,), (2, 3), (4, 1)])


@st.composite
def _problem(draw):
    """Shapes of 1-3 parameters, which of them have a gradient on each of 1-8 steps, a seed, a scale."""
    shapes = draw(st.lists(_SHAPES, min_size=1, max_size=3))
    row = st.lists(st.booleans(), min_size=len(shapes), max_size=len(shapes))
    has_grad = draw(st.lists(row, min_size=1, max_size=8))
    return shapes, has_grad, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([1e-3, 1.0, 1e2]))


def _arrays(problem):
    shapes, has_grad, seed, scale = problem
    rng = np.random.default_rng(seed)
    w0 = [rng.normal(size=s) for s in shapes]
    grads = [[scale * rng.normal(size=s) if on else None for s, on in zip(shapes, row)] for row in has_grad]
    return w0, grads


# The case the per-optimizer step count got wrong: the second parameter has no gradient on step 1.
_MISSING_FIRST = ([(3,), (2, 3)], [[True, False], [True, True], [True, True]], 0, 1.0)


@pytest.mark.parametrize("cls", [SGD, AdaGrad, RMSProp, Adam, AdamW], ids=lambda c: c.__name__)
def test_random_configurations_match_torch(cls):
    @settings(max_examples=40, deadline=None)
    @given(hp=HYPER[cls], problem=_problem())
    @example(hp={"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.1} if cls is SGD else
             {"lr": 0.1, "rho": 0.9, "eps": 1e-8, "weight_decay": 0.1} if cls is RMSProp else
             {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-10, "weight_decay": 0.1} if cls is AdaGrad else
             {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}, problem=_MISSING_FIRST)
    def check(hp, problem):
        w0, grads = _arrays(problem)
        ours = [Tensor(w.copy()) for w in w0]
        theirs = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
        opt, topt = cls(ours, **hp), _torch_class(cls)(theirs, **_torch_kwargs(cls, hp))
        for t, row in enumerate(grads, start=1):
            for p, tp, g in zip(ours, theirs, row):
                p.grad, tp.grad = g, None if g is None else torch.tensor(g)
            opt.step()
            topt.step()
            for i, (p, tp) in enumerate(zip(ours, theirs)):
                np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=1e-12,
                                           err_msg=f"params[{i}] after step {t}")
    check()


@pytest.mark.tf
@pytest.mark.parametrize("cls", [SGD, AdaGrad, RMSProp, Adam, AdamW], ids=lambda c: c.__name__)
def test_random_configurations_match_keras(cls):
    tk.import_tf()
    import keras

    @settings(max_examples=12, deadline=None)
    @given(hp=HYPER[cls], problem=_problem())
    @example(hp={"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1} if cls is SGD else
             {"lr": 0.1, "rho": 0.9, "eps": 1e-7, "weight_decay": 0.1} if cls is RMSProp else
             {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-7, "weight_decay": 0.1} if cls is AdaGrad else
             {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.1},
             problem=([(3,), (2,)], [[False, False], [True, False], [True, True]], 1, 1.0))
    def check(hp, problem):
        w0, grads = _arrays(problem)
        ours = [Tensor(w.copy()) for w in w0]
        theirs = [keras.Variable(w, dtype="float64") for w in w0]
        opt, kopt = cls(ours, convention="keras", **hp), _keras_optimizer(cls, hp)
        kopt.build(theirs)
        for t, row in enumerate(grads, start=1):
            for p, g in zip(ours, row):
                p.grad = g
            opt.step()
            if any(g is not None for g in row):  # Keras refuses a step without any gradient; ours skips it
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "Gradients do not exist for variables ..."
                    kopt.apply_gradients(list(zip(row, theirs)))
            for i, (p, var) in enumerate(zip(ours, theirs)):
                np.testing.assert_allclose(p.data, var.numpy(), rtol=1e-9, atol=1e-10,
                                           err_msg=f"params[{i}] after step {t}")
    check()


def test_missing_gradient_counts_per_parameter_in_torch_and_per_optimizer_in_keras():
    """A parameter's first Adam step is lr * sign(g) in torch however late it comes; Keras corrects with t."""
    # Keras at t = 3: lr sqrt(1 - b2^3) / (1 - b1^3) * m / sqrt(v), with m = 0.1 * 5 and v = 0.001 * 25
    keras_step = 0.1 * np.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3) * 0.5 / np.sqrt(0.025)
    for convention, expected in (("torch", 0.1), ("keras", keras_step)):
        a, b = Tensor(np.zeros(1)), Tensor(np.zeros(1))
        opt = Adam([a, b], lr=0.1, eps=1e-12, convention=convention)
        opt.step()  # no gradient at all: a no-op that counts for neither convention
        for _ in range(2):
            a.grad, b.grad = np.ones(1), None
            opt.step()
        assert b.data[0] == 0.0 and opt.iterations == 2 and "step" not in opt.state[1]
        b.grad = np.full(1, 5.0)
        opt.step()
        assert opt.state[1]["step"] == 1 and opt.iterations == 3
        assert -b.data[0] == pytest.approx(expected, rel=1e-4), convention  # Keras's betas pass float32


def test_conventions_differ_where_they_should():
    for cls in (RMSProp, Adam, AdamW):
        assert cls([Tensor(np.zeros(1))]).hyper != cls([Tensor(np.zeros(1))], convention="keras").hyper
    a = _ours(Adam, {"eps": 1e-8}, "torch")
    b = _ours(Adam, {"eps": 1e-8}, "keras")
    assert 0 < np.abs(a - b).max() < 1e-5  # only where eps goes differs: a small, real difference


def test_adagrad_steps_shrink_as_the_squared_gradients_add_up():
    """With a constant gradient g, step t is lr g / sqrt(t g^2) = lr / sqrt(t) (torch, eps aside): by hand."""
    p = Tensor(np.zeros(1))
    opt = AdaGrad([p], lr=0.5, eps=1e-300)
    steps = []
    for _ in range(4):
        before = p.data.copy()
        p.grad = np.array([3.0])
        opt.step()
        steps.append(float(before[0] - p.data[0]))
    np.testing.assert_allclose(steps, 0.5 / np.sqrt([1, 2, 3, 4]), rtol=1e-12)


def test_adamw_decays_weights_without_gradient_scaling():
    p = Tensor(np.array([10.0, 10.0]))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = np.array([0.0, 1e6])
    opt.step()
    # entry 0: only the decay acts; 10 * (1 - 0.1 * 0.5)
    assert p.data[0] == pytest.approx(9.5)


def test_parameters_without_grad_are_skipped():
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt = SGD([a, b], lr=0.5, weight_decay=0.1, momentum=0.9)
    a.grad = np.ones(2)
    opt.step()
    assert a.data == pytest.approx([0.45, 0.45]) and b.data.tolist() == [1.0, 1.0]  # 1 - 0.5 (1 + 0.1 * 1)
    assert "momentum" not in opt.state[1]
    opt.zero_grad()
    assert a.grad is None


# --- bad input -----------------------------------------------------------------------------------

class _IntParam:
    data, grad = np.zeros(2, dtype=np.int64), None


@pytest.mark.parametrize("make, error, words", [
    (lambda p: SGD(p, lr=-0.1), ValueError, "lr must be > 0"),
    (lambda p: SGD(p, lr=0.0), ValueError, "lr must be > 0"),
    (lambda p: SGD(p, lr=float("nan")), ValueError, "lr must be > 0, got nan"),
    (lambda p: Adam(p, lr=float("inf")), ValueError, "lr must be > 0, got inf"),
    (lambda p: SGD(p, lr="0.1"), TypeError, "lr must be a number, got str"),
    (lambda p: SGD(p, lr=True), TypeError, "lr must be a number, got bool"),
    (lambda p: Adam(p, lr=1e-50, convention="keras"), ValueError, "lr must be representable in float32"),
    (lambda p: SGD(p, lr=0.1, momentum=1.0), ValueError, r"momentum must be in \[0(.0)?, 1(.0)?\), got 1"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.1), ValueError, r"momentum must be in \[0(.0)?, 1(.0)?\), got -0.1"),
    (lambda p: SGD(p, lr=0.1, momentum=float("nan")), ValueError, "momentum must be .*nan"),
    (lambda p: SGD(p, lr=0.1, momentum="0.9"), TypeError, "momentum must be a .*number"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov must be True or False"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0(.0)?, 1(.0)?\)"),
    (lambda p: Adam(p, betas=(-0.1, 0.9)), ValueError, r"betas\[0\] must be in"),
    (lambda p: Adam(p, betas=(float("nan"), 0.9)), ValueError, r"betas\[0\] must be .*nan"),
    (lambda p: Adam(p, betas=("0.9", 0.999)), TypeError, r"betas\[0\] must be a .*number"),
    (lambda p: Adam(p, betas=0.9), TypeError, "betas must be a pair of numbers"),
    (lambda p: AdamW(p, betas="ab"), TypeError, "betas must be a pair of numbers"),
    (lambda p: Adam(p, betas=(0.9,)), ValueError, "betas must be a pair of numbers .* got 1 values"),
    (lambda p: RMSProp(p, eps=0.0), ValueError, "eps must be > 0"),
    (lambda p: AdaGrad(p, eps=0.0), ValueError, "eps must be > 0"),
    (lambda p: AdaGrad(p, initial_accumulator_value=-0.1), ValueError, "initial_accumulator_value must be >= 0"),
    (lambda p: AdaGrad(p, initial_accumulator_value="0"), TypeError, "initial_accumulator_value must be a number"),
    (lambda p: Adam(p, eps=float("nan")), ValueError, "eps must be > 0"),
    (lambda p: RMSProp(p, rho=1.0), ValueError, r"rho must be in \[0(.0)?, 1(.0)?\)"),
    (lambda p: AdamW(p, weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
    (lambda p: SGD(p, lr=0.1, weight_decay=float("nan")), ValueError, "weight_decay must be >= 0"),
    (lambda p: RMSProp(p, weight_decay="0.1"), TypeError, "weight_decay must be a number"),
    (lambda p: Adam(p, convention="jax"), ValueError, "convention must be"),
    (lambda p: Adam(p, convention=["torch"]), ValueError, "convention must be"),
    (lambda p: Adam([]), ValueError, "at least one parameter"),
    (lambda p: Adam(iter([])), ValueError, "at least one parameter"),
    (lambda p: Adam(p[0]), TypeError, "params must be an iterable of parameters, got a single Tensor"),
    (lambda p: Adam(5), TypeError, "params must be an iterable of parameters .* got int"),
    (lambda p: Adam("w"), TypeError, "params must be an iterable of parameters .* got str"),
    (lambda p: SGD([np.zeros(2)], lr=0.1), TypeError, r"params must have .data and .grad .* params\[0\] is a ndarray"),
    (lambda p: SGD(p + [3], lr=0.1), TypeError, r"params\[1\] is a int"),
    (lambda p: SGD([_IntParam()], lr=0.1), TypeError, r"params\[0\].data must be a floating-point NumPy array"),
    (lambda p: SGD(p + p, lr=0.1), ValueError, r"params\[1\] is the same parameter as params\[0\]"),
])
def test_bad_arguments_raise(make, error, words):
    with pytest.raises(error, match=words):
        make([Tensor(np.zeros(2))])


def test_params_can_be_any_iterable():
    ps = [Tensor(np.zeros(2)), Tensor(np.zeros(3))]
    assert SGD((p for p in ps), lr=0.1).params == ps


@pytest.mark.parametrize("cls", [SGD, AdaGrad, RMSProp, Adam, AdamW], ids=lambda c: c.__name__)
@pytest.mark.parametrize("grad, error, words", [
    (np.array([1.0, np.nan]), ValueError, r"params\[1\].grad holds NaN or infinity"),
    (np.array([1.0, np.inf]), ValueError, r"params\[1\].grad holds NaN or infinity"),
    (np.ones(3), ValueError, r"params\[1\].grad must have its parameter's shape \(2,\), got \(3,\)"),
    (np.ones((1, 2)), ValueError, r"params\[1\].grad must have its parameter's shape"),
    (np.array(["a", "b"]), TypeError, r"params\[1\].grad must hold real numbers"),
])
def test_bad_gradients_raise_before_anything_changes(cls, grad, error, words):
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt = cls([a, b], lr=0.1)
    a.grad, b.grad = np.ones(2), grad
    with pytest.raises(error, match=words):
        opt.step()
    assert a.data.tolist() == [1.0, 1.0] and opt.state[0] == {} and opt.iterations == 0


# --- the test functions ----------------------------------------------------------------------------

def _torch_f(land, xy):
    x, y = xy
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2 if land is ROSENBROCK else 0.5 * (x * x + 50 * y * y)


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-3, 3), y=st.floats(-3, 3), land=st.sampled_from([ROSENBROCK, VALLEY]))
def test_landscape_gradients_match_torch_autograd(x, y, land):
    xy = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    f = _torch_f(land, xy)
    f.backward()
    assert land.f(np.array([x, y])) == pytest.approx(f.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(land.grad(np.array([x, y])), xy.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_landscape_minimum_is_where_f_and_grad_vanish():
    for land in (ROSENBROCK, VALLEY):
        assert land.f(np.array(land.minimum)) == 0.0 and not land.grad(np.array(land.minimum)).any()


def test_descend_reaches_the_bowl_minimum_and_reports_divergence():
    path, steps = descend(lambda ps: SGD(ps, lr=0.03), VALLEY, steps=2000)
    assert steps == len(path) - 1 and VALLEY.f(path[-1]) < 1e-3 <= VALLEY.f(path[-2])
    path, steps = descend(lambda ps: SGD(ps, lr=0.05), VALLEY, steps=100)  # lr > 2/50: y grows 1.5x a step
    assert steps is None and len(path) < 101 and np.abs(path[-2]).max() < 1e6 <= np.abs(path[-1]).max()


def _land(**kw):
    base = {"name": "x", "f": ROSENBROCK.f, "grad": ROSENBROCK.grad, "start": (0, 0), "minimum": (1, 1),
            "box": (0, 1, 0, 1)}
    return Landscape(**{**base, **kw})


@pytest.mark.parametrize("call, error, words", [
    (lambda: descend(3, VALLEY), TypeError, "make_optimizer must be a function"),
    (lambda: descend(lambda ps: 3, VALLEY), TypeError, "make_optimizer must return an optimizer"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), "bowl"), TypeError, "land must be a Landscape"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, steps=0), ValueError, "steps must be > 0"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, steps=10.5), TypeError, "steps must be an integer"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, tol=-1.0), ValueError, "tol must be > 0"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, tol=float("nan")), ValueError, "tol must be > 0"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, start=[1.0, 2.0, 3.0]), ValueError,
     "start must have 2 coordinates"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, start=["a", "b"]), TypeError, "start must .*numbers"),
    (lambda: descend(lambda ps: SGD(ps, lr=0.1), VALLEY, start=[np.nan, 0.0]), ValueError, "start must be finite"),
    (lambda: ROSENBROCK.f(np.zeros(3)), ValueError, r"p must be a point \(x, y\) of shape \(2,\)"),
    (lambda: VALLEY.grad([[1.0, 2.0]]), ValueError, r"p must be a point \(x, y\)"),
    (lambda: VALLEY.f(["a", "b"]), TypeError, "p must hold real numbers"),
    (lambda: _land(f=3), TypeError, "f must be a function"),
    (lambda: _land(name=None), TypeError, "name must be a string"),
    (lambda: _land(start=(0, 0, 0)), ValueError, "start must have 2 numbers"),
    (lambda: _land(minimum="ab"), TypeError, "minimum must .*numbers"),
    (lambda: _land(box=(1, 0, 0, 1)), ValueError, "box must be .* x0 < x1"),
    (lambda: _land(box=(0, 1, 0, np.inf)), ValueError, "box must be finite"),
])
def test_landscape_bad_arguments_raise(call, error, words):
    with pytest.raises(error, match=words):
        call()
