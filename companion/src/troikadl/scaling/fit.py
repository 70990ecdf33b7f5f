"""Scaling laws fitted to a sweep: power laws, the loss surface L(N, D), its bootstrap, the compute-optimal split.

Taught in chapter 12. Every fit follows Hoffmann et al. 2022 (arXiv 2203.15556, Approach 3): the parameters
are ``log A``, ``log B``, ``log E`` and the exponents; the prediction is computed in log space with a log-sum-exp,
``log L_hat = LSE(log A - alpha log N, log B - beta log D, log E)``, and the objective is the sum over runs of
the Huber loss (``delta = 1e-3``) of ``log L_hat - log L``, minimised with L-BFGS (``scipy.optimize``) from the
best points of a grid of initial values. Fitting logs weighs every run by its relative error; the Huber loss
keeps one bad run from pulling the fit.

The compute-optimal split (:func:`compute_optimal`). With ``C = 6 N D``, minimise ``A N^-alpha + B D^-beta``
over ``N`` with ``D = C / (6 N)``::

    d/dN [A N^-alpha + B (C/6)^-beta N^beta] = -alpha A N^-(alpha+1) + beta B (C/6)^-beta N^(beta-1) = 0
    => N^(alpha+beta) = (alpha A / (beta B)) (C/6)^beta
    => N_opt = G (C/6)^(beta/(alpha+beta)),   G = (alpha A / (beta B))^(1/(alpha+beta)),
       D_opt = C / (6 N_opt) = G^-1 (C/6)^(alpha/(alpha+beta)).

The second derivative is positive, so this is the minimum. The optimal tokens per parameter,
``D_opt / N_opt = G^-2 (C/6)^((alpha-beta)/(alpha+beta))``, is constant only where ``alpha = beta``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from ..validate import as_float_array, check_bool, check_float, check_int

__all__ = ["PowerLaw", "LossSurface", "Bootstrap", "fit_power_law", "fit_loss_surface", "bootstrap_fit",
           "compute_optimal", "huber_log_objective"]

DELTA = 1e-3  # Hoffmann et al.'s Huber delta
#: Hoffmann et al.'s grid of initial values: alpha, beta; log E; log A, log B.
GRID = {"exponent": (0.0, 0.5, 1.0, 1.5, 2.0), "log_E": (-1.0, -0.5, 0.0, 0.5, 1.0),
        "log_A": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)}


@dataclass(frozen=True)
class PowerLaw:
    """``L(x) = E + A x^-alpha`` (chapter 12); ``E = 0`` for Kaplan et al.'s pure power law."""

    E: float
    A: float
    alpha: float

    def predict(self, x: Any) -> np.ndarray:
        """The loss the law predicts at ``x`` (parameters, tokens or compute; positive)."""
        x = _positive(x, "x")
        return self.E + self.A * x ** -self.alpha


@dataclass(frozen=True)
class LossSurface:
    """``L(N, D) = E + A / N^alpha + B / D^beta`` (Hoffmann et al. 2022; chapter 12)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def predict(self, N: Any, D: Any) -> np.ndarray:
        """The loss the law predicts for ``N`` parameters trained on ``D`` tokens (broadcast)."""
        N, D = _positive(N, "N"), _positive(D, "D")
        try:
            np.broadcast_shapes(N.shape, D.shape)
        except ValueError:
            raise ValueError(f"N and D must broadcast together, got shapes {N.shape} and {D.shape}") from None
        return self.E + self.A * N ** -self.alpha + self.B * D ** -self.beta


def _positive(x: Any, name: str, *, ndim: int | None = None) -> np.ndarray:
    x = as_float_array(x, name, ndim=ndim)
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one value, got an empty array")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"{name} must hold finite values > 0, got min {np.min(x)}")
    return x


def _check_runs(*arrays: tuple[Any, str], need: int = 1) -> list[np.ndarray]:
    """1-D positive arrays of one length, at least ``need`` (one per parameter of the law fitted to them)."""
    out = [_positive(a, name, ndim=1) for a, name in arrays]
    if len({len(a) for a in out}) != 1:
        raise ValueError(f"{', '.join(n for _, n in arrays)} must have the same length, got {[len(a) for a in out]}")
    if len(out[0]) < need:
        raise ValueError(f"{arrays[0][1]} must hold at least {need} runs to fit {need} parameters, got {len(out[0])}")
    return out


def _terms(theta: np.ndarray, logx: np.ndarray) -> np.ndarray:
    """The log of each term, (..., 1 + k, runs), for parameters ``theta`` (..., 1 + 2k) = (log E, log A_1, alpha_1,
    ...) and ``logx`` (k, runs)."""
    E = np.broadcast_to(theta[..., :1, None], theta.shape[:-1] + (1, logx.shape[1]))
    return np.concatenate([E, theta[..., 1::2, None] - theta[..., 2::2, None] * logx], axis=-2)


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _objective(theta: np.ndarray, logx: np.ndarray, logL: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
    """Huber loss of log-prediction minus log-loss summed over runs, and its gradient in ``theta``."""
    terms = _terms(theta, logx)
    top = terms.max(0)
    e = np.exp(terms - top)
    total = e.sum(0)
    r = top + np.log(total) - logL
    w = e * (np.clip(r, -delta, delta) / total)  # d huber / d r times d log-prediction / d term
    grad = np.empty_like(theta)
    grad[0], grad[1::2], grad[2::2] = w[0].sum(), w[1:].sum(1), -(w[1:] * logx).sum(1)
    return float(_huber(r, delta).sum()), grad


def huber_log_objective(law: PowerLaw | LossSurface, N: Any, loss: Any, D: Any = None,
                        delta: float = DELTA) -> float:
    """The fits' objective at ``law``: the sum over runs of ``huber_delta(log law(N[, D]) - log loss)``.

    ``huber_delta(r) = r^2 / 2`` where ``|r| <= delta``, else ``delta (|r| - delta / 2)`` (scipy.special.huber).
    For a :class:`PowerLaw`, ``N`` is its ``x`` and ``D`` must be ``None``. Chapter 12.
    """
    delta = check_float(delta, "delta", min=0.0, min_open=True)
    if isinstance(law, LossSurface):
        if D is None:
            raise TypeError("D must be the tokens of each run for a LossSurface, got None")
        N, D, loss = _check_runs((N, "N"), (D, "D"), (loss, "loss"))
        theta, logx = np.array([np.log(law.E), np.log(law.A), law.alpha, np.log(law.B), law.beta]), np.log([N, D])
    elif isinstance(law, PowerLaw):
        if D is not None:
            raise TypeError("D must be None for a PowerLaw (one variable)")
        N, loss = _check_runs((N, "x"), (loss, "loss"))
        theta, logx = np.array([np.log(max(law.E, 1e-300)), np.log(law.A), law.alpha]), np.log(N)[None]
    else:
        raise TypeError(f"law must be a PowerLaw or a LossSurface, got {type(law).__name__}")
    return _objective(theta, logx, np.log(loss), delta)[0]


_OPTIONS = {"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-13}


def _minimise(theta0: np.ndarray, logx: np.ndarray, logL: np.ndarray, delta: float, fixed_E: bool) -> Any:
    if fixed_E:  # L = A x^-alpha: log E pinned far below (exp(-700) is 0 to double precision)
        def f(t: np.ndarray) -> tuple[float, np.ndarray]:
            v, g = _objective(np.r_[-700.0, t], logx, logL, delta)
            return v, g[1:]
        res = optimize.minimize(f, theta0[1:], jac=True, method="L-BFGS-B", options=_OPTIONS)
        res.x = np.r_[-700.0, res.x]
        return res
    return optimize.minimize(_objective, theta0, args=(logx, logL, delta), jac=True, method="L-BFGS-B",
                             options=_OPTIONS)


def _fit(logx: np.ndarray, logL: np.ndarray, delta: float, starts: int, fixed_E: bool = False,
         theta0: np.ndarray | None = None) -> np.ndarray:
    """L-BFGS from ``theta0``, or from the ``starts`` best points of :data:`GRID`; the best result."""
    if theta0 is not None:
        return _minimise(theta0, logx, logL, delta, fixed_E).x
    k = logx.shape[0]
    grids = [GRID["log_E"] if not fixed_E else (-700.0,)] + [GRID["log_A"], GRID["exponent"]] * k
    points = np.array(list(itertools.product(*grids)))
    values = _huber(special.logsumexp(_terms(points, logx), axis=-2) - logL, delta).sum(-1)
    results = [_minimise(points[i], logx, logL, delta, fixed_E) for i in np.argsort(values, kind="stable")[:starts]]
    return min(results, key=lambda r: r.fun).x


def fit_power_law(x: Any, loss: Any, *, irreducible: bool = True, delta: float = DELTA,
                  starts: int = 8) -> PowerLaw:
    """Fit ``L = E + A x^-alpha`` to runs (``x`` parameters, tokens or compute; ``loss`` > 0) (chapter 12).

    ``irreducible=False`` fits Kaplan et al.'s ``L = A x^-alpha`` (``E = 0``), whose exponent is smaller
    where the data bend towards a floor. Huber loss of the log, L-BFGS from the ``starts`` best grid points.
    """
    check_bool(irreducible, "irreducible")
    x, loss = _check_runs((x, "x"), (loss, "loss"), need=3 if irreducible else 2)
    delta, starts = check_float(delta, "delta", min=0.0, min_open=True), check_int(starts, "starts", min=1)
    t = _fit(np.log(x)[None], np.log(loss), delta, starts, fixed_E=not irreducible)
    return PowerLaw(E=float(np.exp(t[0])) if irreducible else 0.0, A=float(np.exp(t[1])), alpha=float(t[2]))


def _surface(t: np.ndarray) -> LossSurface:
    return LossSurface(E=float(np.exp(t[0])), A=float(np.exp(t[1])), alpha=float(t[2]), B=float(np.exp(t[3])),
                       beta=float(t[4]))


def fit_loss_surface(N: Any, D: Any, loss: Any, *, delta: float = DELTA, starts: int = 16) -> LossSurface:
    """Fit ``L(N, D) = E + A / N^alpha + B / D^beta`` to runs, as Hoffmann et al. 2022 did (chapter 12).

    ``N`` parameters, ``D`` tokens and ``loss`` (nats) of each run, 1-D. The objective (see the module
    docstring) is evaluated on Hoffmann et al.'s grid of 4,500 initial values (alpha, beta in 0, 0.5, .., 2;
    log E in -1, -0.5, .., 1; log A, log B in 0, 5, .., 25) and L-BFGS starts from the ``starts`` best.
    """
    N, D, loss = _check_runs((N, "N"), (D, "D"), (loss, "loss"), need=5)
    delta, starts = check_float(delta, "delta", min=0.0, min_open=True), check_int(starts, "starts", min=1)
    return _surface(_fit(np.log([N, D]), np.log(loss), delta, starts))


@dataclass(frozen=True)
class Bootstrap:
    """Refits of :func:`bootstrap_fit` (chapter 12): ``fit`` on all runs, ``samples`` one array per quantity.

    Quantities: ``E``, ``A``, ``B``, ``alpha``, ``beta``, ``a`` (``beta / (alpha + beta)``, the exponent of
    ``N_opt`` in ``C``), ``ratio`` (the optimal tokens per parameter at ``compute``).
    """

    fit: LossSurface
    samples: dict[str, np.ndarray]
    compute: float

    def interval(self, name: str, level: float = 0.9) -> tuple[float, float]:
        """The percentile interval holding ``level`` of the refits' ``name`` (0.9: the 5th to 95th percentile)."""
        if name not in self.samples:
            raise ValueError(f"name must be one of {sorted(self.samples)}, got {name!r}")
        level = check_float(level, "level", min=0.0, max=1.0, min_open=True, max_open=True)
        lo, hi = np.percentile(self.samples[name], [50 * (1 - level), 50 * (1 + level)])
        return float(lo), float(hi)


def _quantities(fit: LossSurface, compute: float) -> dict[str, float]:
    """The quantities a bootstrap records; the ratio is NaN where a refit has no finite optimum."""
    n, d = compute_optimal(fit, compute) if fit.alpha > 0 and fit.beta > 0 else (np.nan, np.nan)
    return {"E": fit.E, "A": fit.A, "B": fit.B, "alpha": fit.alpha, "beta": fit.beta,
            "a": fit.beta / (fit.alpha + fit.beta), "ratio": float(d / n)}


def bootstrap_fit(N: Any, D: Any, loss: Any, *, n_boot: int = 200, seed: int = 0, compute: float | None = None,
                  delta: float = DELTA) -> Bootstrap:
    """The spread of :func:`fit_loss_surface` over training seeds, by the bootstrap (chapter 12).

    The runs of one cell (the same ``N`` and ``D``) differ only in their seed. Each resample draws, in every
    cell, as many runs as the cell has, with replacement, and refits by L-BFGS warm-started from the fit on
    all runs (a few milliseconds each). ``compute`` (FLOPs, default the largest ``6 N D`` of the runs) is where
    the optimal tokens per parameter is read.
    """
    N, D, loss = _check_runs((N, "N"), (D, "D"), (loss, "loss"), need=5)
    n_boot, seed = check_int(n_boot, "n_boot", min=1), check_int(seed, "seed", min=0)
    delta = check_float(delta, "delta", min=0.0, min_open=True)
    compute = float(np.max(6 * N * D)) if compute is None else check_float(compute, "compute", min=0.0, min_open=True)
    cells = {}
    for i, key in enumerate(zip(N.tolist(), D.tolist())):
        cells.setdefault(key, []).append(i)
    if all(len(c) == 1 for c in cells.values()):
        raise ValueError("the runs must repeat some (N, D) cell with another seed to bootstrap over seeds")
    logx, logL = np.log([N, D]), np.log(loss)
    full = _fit(logx, logL, delta, 16)
    rng, groups = np.random.default_rng(seed), [np.array(c) for c in cells.values()]
    samples: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        fit = _surface(_fit(logx[:, idx], logL[idx], delta, 1, theta0=full))
        for k, v in _quantities(fit, compute).items():
            samples.setdefault(k, []).append(v)
    return Bootstrap(fit=_surface(full), samples={k: np.array(v) for k, v in samples.items()}, compute=compute)


def compute_optimal(fit: LossSurface, C: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(N_opt, D_opt)``: the split of ``C = 6 N D`` FLOPs that minimises ``fit``'s loss (chapter 12).

    ``N_opt = G (C/6)^(beta/(alpha+beta))`` with ``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``D_opt = C /
    (6 N_opt)`` (derived in the module docstring). Arrays of ``C``'s shape (0-d for a number).
    """
    if not isinstance(fit, LossSurface):
        raise TypeError(f"fit must be a LossSurface (fit_loss_surface's result), got {type(fit).__name__}")
    C = _positive(C, "C")
    a, b = fit.alpha, fit.beta
    if a <= 0 or b <= 0:
        raise ValueError(f"fit's alpha and beta must be > 0 for a finite optimum, got {a} and {b}")
    G = (a * fit.A / (b * fit.B)) ** (1 / (a + b))
    n = G * (C / 6) ** (b / (a + b))
    return n, C / (6 * n)
