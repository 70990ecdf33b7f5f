"""Chapter 12: scaling-law fits (Hoffmann et al.'s Huber-in-log fit), the bootstrap over seeds, the optimal split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from troikadl.scaling import fit as F

TRUE = F.LossSurface(E=1.3, A=30.0, B=80.0, alpha=0.45, beta=0.38)
NS = np.geomspace(3e3, 8e5, 6)  # the sweep's ranges
DS = np.geomspace(2.8e4, 4.6e5, 5)


def _grid(seeds=3):
    N, D = (a.ravel() for a in np.meshgrid(NS, DS, indexing="ij"))
    return np.repeat(N, seeds), np.repeat(D, seeds)


def _noisy(law, N, D, sigma, seed=0):
    return law.predict(N, D) * np.exp(np.random.default_rng(seed).normal(0.0, sigma, len(N)))


# --- the objective ------------------------------------------------------------------------------------
def test_objective_is_the_summed_huber_of_the_log_error():
    N, D = _grid(1)
    loss = _noisy(TRUE, N, D, 0.01)
    r = np.log(TRUE.E + TRUE.A / N ** TRUE.alpha + TRUE.B / D ** TRUE.beta) - np.log(loss)
    assert np.abs(r).max() > 1e-3 > np.abs(r).min()  # both branches of the Huber loss are used
    want = special.huber(1e-3, r).sum()
    assert F.huber_log_objective(TRUE, N, loss, D) == pytest.approx(want, rel=1e-12)
    law = F.PowerLaw(E=1.1, A=20.0, alpha=0.3)
    r = np.log(1.1 + 20.0 * N ** -0.3) - np.log(loss)
    assert F.huber_log_objective(law, N, loss, delta=0.05) == pytest.approx(special.huber(0.05, r).sum(), rel=1e-12)


def test_objective_gradient_matches_finite_differences():
    N, D = _grid(1)
    loss = _noisy(TRUE, N, D, 0.01)
    logx, logL = np.log([N, D]), np.log(loss)
    theta = np.array([0.1, 3.0, 0.4, 4.0, 0.35])
    _, grad = F._objective(theta, logx, logL, 1e-3)
    h = 1e-7
    num = [(F._objective(theta + h * e, logx, logL, 1e-3)[0] - F._objective(theta - h * e, logx, logL, 1e-3)[0])
           / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-9)


# --- fits ---------------------------------------------------------------------------------------------
def test_loss_surface_recovers_the_law_it_was_drawn_from():
    N, D = _grid(1)
    exact = F.fit_loss_surface(N, D, TRUE.predict(N, D))
    for k in ("E", "A", "B", "alpha", "beta"):
        assert getattr(exact, k) == pytest.approx(getattr(TRUE, k), rel=1e-4), k
    N, D = _grid(3)
    noisy = F.fit_loss_surface(N, D, _noisy(TRUE, N, D, 0.002))
    assert abs(noisy.alpha - TRUE.alpha) < 0.02 and abs(noisy.beta - TRUE.beta) < 0.02
    assert abs(noisy.E - TRUE.E) < 0.05


def test_huber_keeps_one_bad_run_from_pulling_the_fit():
    N, D = _grid(1)
    loss = _noisy(TRUE, N, D, 0.001)
    loss[7] *= 1.5  # one diverged run
    robust = F.fit_loss_surface(N, D, loss)
    squares = F.fit_loss_surface(N, D, loss, delta=10.0)  # Huber with a huge delta: least squares of the log
    err = lambda f: abs(f.alpha - TRUE.alpha) + abs(f.beta - TRUE.beta)  # noqa: E731
    assert err(robust) < 0.03 and err(squares) > 3 * err(robust)


def test_power_law_recovers_E_A_alpha_and_kaplans_form():
    x = np.geomspace(1e3, 1e6, 8)
    law = F.fit_power_law(x, 1.5 + 12.0 * x ** -0.3)
    assert (law.E, law.A, law.alpha) == pytest.approx((1.5, 12.0, 0.3), rel=1e-5)
    pure = F.fit_power_law(x, 7.0 * x ** -0.08, irreducible=False)
    assert pure.E == 0.0 and (pure.A, pure.alpha) == pytest.approx((7.0, 0.08), rel=1e-6)
    np.testing.assert_allclose(pure.predict(x), 7.0 * x ** -0.08, rtol=1e-6)
    bent = F.fit_power_law(x, 1.5 + 12.0 * x ** -0.3, irreducible=False)  # a floor flattens the pure power law
    assert bent.alpha < 0.3 / 2


# --- the compute-optimal split ------------------------------------------------------------------------
@pytest.mark.parametrize("law", [TRUE, F.LossSurface(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)])
def test_compute_optimal_matches_a_brute_force_minimum(law):
    Cs = np.array([1e12, 1e15, 1e20, 5.76e23])  # the last: Chinchilla's budget
    N_opt, D_opt = F.compute_optimal(law, Cs)
    np.testing.assert_allclose(6 * N_opt * D_opt, Cs, rtol=1e-12)
    for C, n in zip(Cs, N_opt):
        res = optimize.minimize_scalar(lambda u: law.predict(np.exp(u), C / (6 * np.exp(u))),
                                       bounds=(0.0, np.log(C / 6)), method="bounded", options={"xatol": 1e-10})
        assert np.exp(res.x) == pytest.approx(n, rel=1e-4)
    if law.alpha == 0.34:  # Hoffmann et al.'s fit gives ~ 70 B parameters and ~1.4 T tokens at 5.76e23 FLOPs
        assert 3e10 < N_opt[-1] < 1e11 and 1e12 < D_opt[-1] < 3e12


# --- the bootstrap ------------------------------------------------------------------------------------
def test_bootstrap_resamples_seeds_within_each_cell():
    N, D = _grid(3)
    # every cell's three seeds equal, but the cells off the law: resampling within cells changes nothing
    off = TRUE.predict(N, D) * np.exp(np.repeat(np.random.default_rng(1).normal(0, 0.01, len(N) // 3), 3))
    b = F.bootstrap_fit(N, D, off, n_boot=20)
    assert np.ptp(b.samples["alpha"]) < 1e-6 and np.ptp(b.samples["beta"]) < 1e-6
    n, d = F.compute_optimal(b.fit, b.compute)
    assert b.compute == pytest.approx(6 * N.max() * D.max()) and np.median(b.samples["ratio"]) == pytest.approx(
        d / n, rel=1e-4)


def test_bootstrap_intervals_widen_with_seed_noise_and_hold_the_fit():
    N, D = _grid(3)
    widths = []
    for sigma in (0.002, 0.02):
        b = F.bootstrap_fit(N, D, _noisy(TRUE, N, D, sigma), n_boot=60, seed=2)
        lo, hi = b.interval("alpha", 0.9)
        assert lo <= b.fit.alpha <= hi
        assert set(b.samples) == {"E", "A", "B", "alpha", "beta", "a", "ratio"}
        assert all(len(v) == 60 for v in b.samples.values())
        widths.append(hi - lo)
    assert widths[1] > 3 * widths[0]
    np.testing.assert_allclose(b.samples["a"], b.samples["beta"] / (b.samples["alpha"] + b.samples["beta"]))


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.fit_power_law([1.0, 2.0, 3.0], [1.0, 2.0]), ValueError, "same length"),
    (lambda: F.fit_power_law([1.0, -2.0, 3.0], [1.0, 2.0, 1.0]), ValueError, "x"),
    (lambda: F.fit_loss_surface([1.0, 2.0], [1.0, 2.0], [0.0, 1.0]), ValueError, "loss"),
    (lambda: F.fit_loss_surface(*[[1.0, 2.0, 3.0, 4.0, 5.0]] * 3, delta=0), ValueError, "delta"),
    (lambda: F.fit_loss_surface([1.0, 2.0], [1.0, 2.0], [1.0, 1.0]), ValueError, "5 runs"),
    (lambda: F.fit_power_law([], []), ValueError, "x"),
    (lambda: F.bootstrap_fit(*[[1.0, 2.0, 3.0, 4.0, 5.0]] * 3), ValueError, "cell"),
    (lambda: F.bootstrap_fit(*[[1.0, 1.0, 2.0, 3.0, 4.0]] * 3, n_boot=0), ValueError, "n_boot"),
    (lambda: F.bootstrap_fit(*[[1.0, 1.0, 2.0, 3.0, 4.0]] * 3, compute=float("nan")), ValueError, "compute"),
    (lambda: F.compute_optimal("fit", 1e15), TypeError, "fit"),
    (lambda: F.compute_optimal(TRUE, -1.0), ValueError, "C"),
    (lambda: F.huber_log_objective(TRUE, [1.0], [1.0]), TypeError, "D"),
    (lambda: F.PowerLaw(1.0, 1.0, 0.5).predict("x"), (TypeError, ValueError), "x"),
])
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
