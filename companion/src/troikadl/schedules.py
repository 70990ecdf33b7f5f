"""Learning-rate schedules from scratch (chapter 3): the learning rate as a function of the step number.

Each function takes the step ``t`` (0 for the first update) and returns the learning rate to use for it.
An optimizer of ``troikadl.optim`` follows a schedule with one line per step,
``opt.hyper["lr"] = cosine_lr(t, lr=0.1, total_steps=T)``, before ``opt.step()``.

The conventions are those of ``torch.optim.lr_scheduler`` after ``t`` calls to ``scheduler.step()``:

- ``step_lr``: torch ``StepLR(step_size, gamma)``; Keras ``ExponentialDecay(lr, step_size, gamma,
  staircase=True)``, or ``PiecewiseConstantDecay`` with boundaries ``step_size - 1, 2 step_size - 1, ...``
  (its boundary step still uses the earlier value).
- ``exponential_lr``: torch ``ExponentialLR(gamma)``; Keras ``ExponentialDecay(lr, 1, gamma)``.
- ``cosine_lr``: torch ``CosineAnnealingLR(total_steps, min_lr)`` (its recursive form; after
  ``total_steps`` it rises again, where ours and Keras's stay at ``min_lr``); Keras
  ``CosineDecay(lr, total_steps, alpha=min_lr / lr)``.
- ``warmup_lr``: torch ``LinearLR(start_lr / lr, 1, warmup_steps)`` then ``CosineAnnealingLR`` or
  ``LinearLR`` in a ``SequentialLR``; Keras (cosine only) ``CosineDecay(start_lr, total_steps -
  warmup_steps, alpha=min_lr / lr, warmup_target=lr, warmup_steps=warmup_steps)``.
"""

from __future__ import annotations

import math

from .validate import check_in_range, check_positive

__all__ = ["step_lr", "exponential_lr", "cosine_lr", "warmup_lr"]


def _step(t: int) -> int:
    return check_positive(t, "t", integer=True, allow_zero=True)


def step_lr(t: int, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Multiply ``lr`` by ``gamma`` every ``step_size`` steps: ``lr gamma^floor(t / step_size)``."""
    t, lr = _step(t), check_positive(lr, "lr")
    step_size = check_positive(step_size, "step_size", integer=True)
    gamma = check_in_range(gamma, "gamma", 0.0, 1.0, closed="right")
    return lr * gamma ** (t // step_size)


def exponential_lr(t: int, lr: float, gamma: float) -> float:
    """Multiply ``lr`` by ``gamma`` at every step: ``lr gamma^t``."""
    t, lr = _step(t), check_positive(lr, "lr")
    gamma = check_in_range(gamma, "gamma", 0.0, 1.0, closed="right")
    return lr * gamma ** t


def cosine_lr(t: int, lr: float, total_steps: int, min_lr: float = 0.0) -> float:
    """Half a cosine from ``lr`` at step 0 down to ``min_lr`` at ``total_steps``, then ``min_lr``.

    ``min_lr + (lr - min_lr) (1 + cos(pi t / total_steps)) / 2`` (Loshchilov and Hutter's SGDR without
    restarts).
    """
    t, lr = _step(t), check_positive(lr, "lr")
    total_steps = check_positive(total_steps, "total_steps", integer=True)
    min_lr = check_in_range(min_lr, "min_lr", 0.0, lr)
    t = min(t, total_steps)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps)) / 2


def warmup_lr(t: int, lr: float, warmup_steps: int, total_steps: int, decay: str = "cosine",
              min_lr: float = 0.0, start_lr: float = 0.0) -> float:
    """Linear warmup from ``start_lr`` to ``lr`` over ``warmup_steps``, then a cosine or linear decay to ``min_lr``.

    The decay takes the remaining ``total_steps - warmup_steps`` steps; after ``total_steps`` the rate stays
    at ``min_lr``. Warmup keeps the first updates small while Adam's second-moment estimates and the network's
    activations settle, so that a learning rate too large for the first steps is safe later.
    """
    t, lr = _step(t), check_positive(lr, "lr")
    warmup_steps = check_positive(warmup_steps, "warmup_steps", integer=True, allow_zero=True)
    total_steps = check_positive(total_steps, "total_steps", integer=True)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be < total_steps ({total_steps}), got {warmup_steps}")
    if decay not in ("cosine", "linear"):
        raise ValueError(f"decay must be 'cosine' or 'linear', got {decay!r}")
    min_lr = check_in_range(min_lr, "min_lr", 0.0, lr)
    start_lr = check_in_range(start_lr, "start_lr", 0.0, lr)
    if t < warmup_steps:
        return start_lr + (lr - start_lr) * t / warmup_steps
    if decay == "cosine":
        return cosine_lr(t - warmup_steps, lr, total_steps - warmup_steps, min_lr)
    done = min(t - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps)
    return lr + (min_lr - lr) * done
