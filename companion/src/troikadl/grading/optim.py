"""Exercises on optimizers (chapter 3): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from .core import Case, Exercise, register

CHAPTER = "03_optimizers"

# --- optim.momentum_step: one step of SGD with momentum (PyTorch's form) ---------------------------


def _ms_ema(w, g, buf, lr, mu):  # an exponential moving average: (1 - mu) on the gradient
    buf = mu * buf + (1 - mu) * g
    return w - lr * buf, buf


def _ms_old_buffer(w, g, buf, lr, mu):  # steps with the previous buffer
    return w - lr * buf, mu * buf + g


def _ms_plain(w, g, buf, lr, mu):  # forgets the momentum
    return w - lr * g, g


register(Exercise(
    id="optim.momentum_step", chapter=CHAPTER, function="momentum_step",
    title="One step of SGD with momentum",
    hint="First buf <- mu * buf + g, then w <- w - lr * buf; return (w, buf).",
    cases=[
        Case("first step (zero buffer)", (np.array([1.0, -1.0]), np.array([0.5, 2.0]), np.zeros(2), 0.1, 0.9),
             expected=(np.array([0.95, -1.2]), np.array([0.5, 2.0]))),
        Case("with a buffer", (np.array([1.0, -1.0]), np.array([0.5, 2.0]), np.array([1.0, -1.0]), 0.1, 0.9),
             expected=(np.array([0.86, -1.11]), np.array([1.4, 1.1])),
             hint="The new buffer is mu * buf + g (no (1 - mu) factor in PyTorch's form)."),
        Case("no momentum", (np.array([2.0]), np.array([4.0]), np.array([3.0]), 0.5, 0.0),
             expected=(np.array([0.0]), np.array([4.0])), hint="With mu = 0 this is plain gradient descent."),
    ],
    wrong_answers={"moving average (1 - mu) g": _ms_ema, "steps with the old buffer": _ms_old_buffer,
                   "ignores the buffer": _ms_plain},
))

# --- optim.adam_step: one step of Adam (PyTorch's form) --------------------------------------------


def _torch_adam(w, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """The expected answer: one step of ``torch.optim.Adam`` from state (m, v) after t - 1 steps."""
    import torch

    p = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor(g, dtype=torch.float64)
    opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, foreach=False)
    opt.state[p] = {"step": torch.tensor(float(t - 1)), "exp_avg": torch.tensor(m, dtype=torch.float64),
                    "exp_avg_sq": torch.tensor(v, dtype=torch.float64)}
    opt.step()
    state = opt.state[p]
    return p.detach().numpy(), state["exp_avg"].numpy(), state["exp_avg_sq"].numpy()


def _adam(w, g, m, v, t, lr, beta1, beta2, eps, correct=True, eps_inside=False):  # the wrong answers
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = (m / (1 - beta1 ** t), v / (1 - beta2 ** t)) if correct else (m, v)
    denom = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
    return w - lr * m_hat / denom, m, v


def _as_no_correction(w, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, correct=False)


def _as_eps_inside(w, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, eps_inside=True)


def _as_article(w, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Article 000 §4.1.4, as written."""
    m = beta1 * m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * (g * g - v)
    return w - lr / (np.sqrt(1 - beta2 ** t) * (1 - beta1 ** t)) * m / (np.sqrt(v) + eps), m, v


def _as_corrected_state(w, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = (beta1 * m + (1 - beta1) * g) / (1 - beta1 ** t)  # stores the corrected moments
    v = (beta2 * v + (1 - beta2) * g * g) / (1 - beta2 ** t)
    return w - lr * m / (np.sqrt(v) + eps), m, v


_W, _G = np.array([0.5, -1.0, 2.0]), np.array([0.1, -3.0, 0.0])
_M, _V = np.array([0.05, -0.2, 0.1]), np.array([0.01, 0.5, 0.02])

register(Exercise(
    id="optim.adam_step", chapter=CHAPTER, function="adam_step",
    title="One step of Adam",
    hint="m, v are the raw moments; divide by (1 - beta^t) only to make m_hat, v_hat for the step; "
         "eps goes outside the square root. Return (w, m, v).",
    cases=[
        Case("first step", (_W, _G, np.zeros(3), np.zeros(3), 1),
             expected=lambda: _torch_adam(_W, _G, np.zeros(3), np.zeros(3), 1),
             hint="At t = 1 the corrected step is lr * sign(g) (for g != 0)."),
        Case("step 10 with state", (_W, _G, _M, _V, 10), expected=lambda: _torch_adam(_W, _G, _M, _V, 10),
             hint="Return the *raw* m and v: the next step needs them, not m_hat and v_hat."),
        Case("other hyper-parameters", (_W, _G, _M, _V, 3),
             kwargs={"lr": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 0.1},
             expected=lambda: _torch_adam(_W, _G, _M, _V, 3, lr=0.1, beta1=0.5, beta2=0.9, eps=0.1),
             hint="Use the lr, betas and eps you are given; eps is added to sqrt(v_hat)."),
    ],
    wrong_answers={"no bias correction": _as_no_correction, "eps inside the square root": _as_eps_inside,
                   "the article's equations": _as_article, "stores the corrected moments": _as_corrected_state},
))

# --- optim.gd_forecast: predict gradient descent on a quadratic from its Hessian (needs understanding) ---


def _gd_forecast(H, tol, lr_of=lambda lam: 2 / lam.max(), rate_of=lambda lam: 1 - lam.min() / lam.max(),
                 rounding=np.ceil):
    """The wrong answers' common form: (largest stable lr, steps at lr = 1 / lambda_max)."""
    lam = np.linalg.eigvalsh(np.asarray(H, dtype=float))
    rate = rate_of(lam)
    steps = 1 if rate <= 0 else int(rounding(np.log(tol) / np.log(rate)))
    return lr_of(lam), steps


def _gf_one_over(H, tol):  # the step that empties the steepest direction in one step, not the stability limit
    return _gd_forecast(H, tol, lr_of=lambda lam: 1 / lam.max())


def _gf_lambda_min(H, tol):  # the flattest direction sets the limit
    return _gd_forecast(H, tol, lr_of=lambda lam: 2 / lam.min())


def _gf_trace(H, tol):  # the trace instead of the largest eigenvalue
    return _gd_forecast(H, tol, lr_of=lambda lam: 2 / lam.sum())


def _gf_diagonal(H, tol):  # the largest diagonal entry, right only for a diagonal H
    return 2 / np.max(np.diag(np.asarray(H, dtype=float))), _gd_forecast(H, tol)[1]


def _gf_floor(H, tol):  # one step short
    return _gd_forecast(H, tol, rounding=np.floor)


register(Exercise(
    id="optim.gd_forecast", chapter=CHAPTER, function="gd_forecast",
    title="Predict gradient descent on a quadratic",
    hint="Use the eigenvalues of H (np.linalg.eigvalsh): lr_max = 2 / lambda_max; at lr = 1 / lambda_max the "
         "slowest direction shrinks by 1 - lambda_min / lambda_max per step; return the first whole number of "
         "steps t with (1 - lambda_min / lambda_max) ** t <= tol.",
    cases=[
        Case("diagonal", (np.diag([1.0, 4.0]), 1e-3), expected=(0.5, 25),
             hint="Eigenvalues 1 and 4: lr_max = 2 / 4; each step multiplies the slow direction by 0.75."),
        Case("not diagonal", (np.array([[2.0, 1.0], [1.0, 2.0]]), 1e-2), expected=(2 / 3, 12),
             hint="The eigenvalues (1 and 3), not the diagonal entries, set the limit."),
        Case("three directions", (np.diag([0.5, 2.0, 10.0]), 1e-4), expected=(0.2, 180),
             hint="Only the largest and the smallest eigenvalue matter; kappa = 20."),
    ],
    wrong_answers={"1 / lambda_max": _gf_one_over, "2 / lambda_min": _gf_lambda_min, "2 / trace(H)": _gf_trace,
                   "the largest diagonal entry": _gf_diagonal, "rounds the steps down": _gf_floor},
))
