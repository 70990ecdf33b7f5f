"""Exercises on backpropagation (chapter 2): public cases and plausible wrong answers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..attention import softmax
from .core import Case, Exercise, register

CHAPTER = "02_backprop"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- backprop.linear_backward: the gradients of a dense layer ---------------------------------------

def _torch_linear_grads(x: np.ndarray, W: np.ndarray, g: np.ndarray) -> tuple[Any, Any, Any]:
    import torch

    xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    bt = torch.zeros(W.shape[1], dtype=torch.float64, requires_grad=True)
    (xt @ Wt + bt).backward(torch.as_tensor(g))
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


def _linear_case(name: str, n: int, k: int, m: int, seed: int, hint: str = "") -> Case:
    r = _rng(seed)
    x, W, g = r.normal(size=(n, k)), r.normal(size=(k, m)), r.normal(size=(n, m))
    return Case(name, (x, W, g), expected=lambda: _torch_linear_grads(x, W, g), hint=hint)


def _lb_no_transpose(x, W, g):  # the article's scalar formula read as matrices
    return g @ W, g.T @ x, g.sum(axis=0)


def _lb_dW_transposed(x, W, g):
    return g @ W.T, (x.T @ g).T, g.sum(axis=0)


def _lb_db_mean(x, W, g):
    return g @ W.T, x.T @ g, g.mean(axis=0)


def _lb_db_unsummed(x, W, g):
    return g @ W.T, x.T @ g, g


register(Exercise(
    id="backprop.linear_backward", chapter=CHAPTER, function="linear_backward",
    title="The backward pass of a dense layer",
    hint="For y = x W + b with upstream gradient g = dL/dy: dx = g W^T, dW = x^T g, db = g summed over rows.",
    cases=[
        _linear_case("batch 4, 3 -> 2", 4, 3, 2, 0, "Check the shapes: dx like x, dW like W, db like b."),
        _linear_case("square layer 3 -> 3", 5, 3, 3, 1,
                     "With a square W a missing transpose still runs, but gives the wrong numbers."),
        _linear_case("one sample, 2 -> 5", 1, 2, 5, 2, "db is g summed over the batch, not averaged."),
    ],
    wrong_answers={"no transposes (the article's form)": _lb_no_transpose,
                   "dW transposed": _lb_dW_transposed, "db averaged": _lb_db_mean,
                   "db not summed over the batch": _lb_db_unsummed},
))

# --- backprop.softmax_ce_backward: the gradient of the mean cross-entropy -----------------------------


def _torch_ce_grad(logits: np.ndarray, y: np.ndarray) -> Any:
    import torch

    z = torch.tensor(logits, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.as_tensor(y)).backward()
    return z.grad.numpy()


def _ce_case(name: str, logits: np.ndarray, y: np.ndarray, hint: str = "") -> Case:
    return Case(name, (logits, y), expected=lambda: _torch_ce_grad(logits, y), hint=hint)


def _onehot(y: np.ndarray, c: int) -> np.ndarray:
    out = np.zeros((len(y), c))
    out[np.arange(len(y)), y] = 1.0
    return out


def _ce_no_mean(logits, y):
    return softmax(logits, axis=1) - _onehot(y, logits.shape[1])


def _ce_sign(logits, y):
    return (_onehot(y, logits.shape[1]) - softmax(logits, axis=1)) / len(y)


def _ce_unstable(logits, y):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True) - _onehot(y, logits.shape[1])) / len(y)


def _ce_softmax_only(logits, y):
    return softmax(logits, axis=1) / len(y)


register(Exercise(
    id="backprop.softmax_ce_backward", chapter=CHAPTER, function="softmax_ce_backward",
    title="The gradient of the softmax cross-entropy",
    hint="dL/dlogits = (softmax(logits) - onehot(y)) / n; subtract each row's maximum before exp.",
    cases=[
        _ce_case("3 samples, 4 classes", _rng(0).normal(size=(3, 4)), np.array([0, 3, 1])),
        _ce_case("one sample", np.array([[2.0, -1.0, 0.5]]), np.array([2]),
                 "For one sample the gradient is softmax minus the one-hot label."),
        _ce_case("large logits", np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]),
                 "exp(1000) overflows: subtract the row maximum first (it does not change softmax)."),
    ],
    wrong_answers={"not divided by n": _ce_no_mean, "sign error": _ce_sign,
                   "softmax without the max shift": _ce_unstable, "one-hot term missing": _ce_softmax_only},
))

# --- backprop.centered_difference: a numerical gradient -------------------------------------------


class _Fn:
    """A named test function of a vector, so that feedback prints something readable."""

    def __init__(self, text: str, f: Any) -> None:
        self.text, self.f = text, f

    def __call__(self, x: np.ndarray) -> float:
        return float(self.f(x))

    def __repr__(self) -> str:
        return self.text


_CUBE_OF_SUM = _Fn("f(x) = sum(x)**3", lambda x: np.sum(x) ** 3)
_SIN_DOT = _Fn("f(x) = sin(x . [1, 2, 3])", lambda x: np.sin(x @ np.array([1.0, 2.0, 3.0])))
_SQUARE = _Fn("f(x) = sum(x**2)", lambda x: np.sum(x ** 2))


def _cd(f, x, eps, mode):
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in range(x.size):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps if mode != "forward" else old
        down = f(x)
        if mode != "no restore":
            x[i] = old
        g[i] = (up - down) / ({"one eps": eps, "forward": eps}.get(mode, 2 * eps))
    return g


def _cd_forward(f, x, eps=1e-5):
    return _cd(f, x, eps, "forward")


def _cd_one_eps(f, x, eps=1e-5):
    return _cd(f, x, eps, "one eps")


def _cd_no_restore(f, x, eps=1e-5):
    return _cd(f, x, eps, "no restore")


register(Exercise(
    id="backprop.centered_difference", chapter=CHAPTER, function="centered_difference",
    title="A numerical gradient by centred differences",
    hint="For each i: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), and put x[i] back before moving on.",
    cases=[
        Case("sum of squares", (_SQUARE, np.array([1.0, -2.0, 0.5])), expected=np.array([2.0, -4.0, 1.0]),
             rtol=1e-8, atol=1e-8, hint="The gradient of sum(x**2) is 2x."),
        Case("cube of the sum", (_CUBE_OF_SUM, np.array([0.5, 1.0, -0.25])),
             expected=np.full(3, 3 * 1.25 ** 2), rtol=1e-8, atol=1e-8,
             hint="Every entry of this gradient is 3 sum(x)**2; restore x[i] after each entry."),
        Case("sine of a dot product", (_SIN_DOT, np.array([0.1, 0.2, 0.3])),
             expected=np.cos(1.4) * np.array([1.0, 2.0, 3.0]), rtol=1e-8, atol=1e-8,
             hint="A forward difference (f(x + eps) - f(x)) / eps is only first-order accurate."),
        Case("eps passed on", (_SQUARE, np.array([3.0])), kwargs={"eps": 0.5}, expected=np.array([6.0]),
             hint="Use the eps you are given."),
    ],
    wrong_answers={"forward difference": _cd_forward, "divided by eps, not 2 eps": _cd_one_eps,
                   "x[i] not restored": _cd_no_restore},
))

# --- backprop.softmax_temperature_backward: derive the gradient of a new loss -------------------------


def _torch_temperature_grad(logits: np.ndarray, y: np.ndarray, T: float) -> Any:
    import torch

    z = torch.tensor(logits, requires_grad=True)
    torch.nn.functional.cross_entropy(z / T, torch.as_tensor(y)).backward()
    return z.grad.numpy()


def _temp_case(name: str, logits: np.ndarray, y: np.ndarray, T: float, hint: str = "") -> Case:
    return Case(name, (logits, y, T), expected=lambda: _torch_temperature_grad(logits, y, T), hint=hint)


def _t_no_chain(logits, y, T):  # the softmax of z / T, but the chain rule's 1/T forgotten
    return (softmax(logits / T, axis=1) - _onehot(y, logits.shape[1])) / len(y)


def _t_times_T(logits, y, T):   # d(z/T)/dz taken as T
    return T * (softmax(logits / T, axis=1) - _onehot(y, logits.shape[1])) / len(y)


def _t_softmax_of_z(logits, y, T):  # the 1/T factor, but the softmax of the raw logits
    return (softmax(logits, axis=1) - _onehot(y, logits.shape[1])) / (len(y) * T)


def _t_unstable(logits, y, T):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits / T)
        return (e / e.sum(axis=1, keepdims=True) - _onehot(y, logits.shape[1])) / (len(y) * T)


register(Exercise(
    id="backprop.softmax_temperature_backward", chapter=CHAPTER, function="softmax_temperature_backward",
    title="Derive the gradient of the softmax cross-entropy with a temperature",
    hint="L = mean CE(softmax(z / T), y). Write u = z / T: dL/du is exercise 2.2's answer, and du/dz = 1/T.",
    cases=[
        _temp_case("T = 2, 3 samples, 4 classes", _rng(3).normal(size=(3, 4)), np.array([0, 3, 1]), 2.0,
                   "The chain rule through u = z / T multiplies the gradient by 1/T."),
        _temp_case("T = 0.5, one sample", np.array([[2.0, -1.0, 0.5]]), np.array([1]), 0.5,
                   "The softmax is taken of z / T, not of z."),
        _temp_case("T = 1 is exercise 2.2", _rng(4).normal(size=(2, 3)), np.array([2, 0]), 1.0),
        _temp_case("small T, large logits/T", np.array([[30.0, 10.0, 0.0], [0.0, 25.0, 26.0]]), np.array([1, 2]),
                   0.01, "z / T reaches 3000 here: subtract each row's maximum before exp."),
    ],
    wrong_answers={"chain rule's 1/T forgotten": _t_no_chain, "multiplied by T instead of divided":
                   _t_times_T, "softmax of z instead of z / T": _t_softmax_of_z,
                   "no max shift (overflows at small T)": _t_unstable},
))
