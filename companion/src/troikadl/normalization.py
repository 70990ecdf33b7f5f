"""Batch normalization from scratch.

Taught in chapter 4 ("Convolutional networks", section on batch normalization). :func:`batch_norm` is the
functional core and :class:`BatchNorm2d` the layer; both are PyTorch's ``nn.BatchNorm2d`` written out
(tested equal to it, and to Keras's ``BatchNormalization`` with the momentum converted, in training and in
evaluation mode).

For a batch of images ``x`` of shape (N, C, H, W), each channel ``c`` is normalized with the mean and the
*biased* variance of its N·H·W values, then scaled and shifted by learned ``gamma[c]`` and ``beta[c]``:

    y = gamma * (x - mean) / sqrt(var + eps) + beta.

In training the layer also keeps running averages for evaluation. The two frameworks write the same
exponential average with opposite meanings of "momentum":

- PyTorch: ``running = (1 - m) * running + m * batch`` with ``m = 0.1`` (m weighs the *new* batch);
  the running variance is updated with the *unbiased* batch variance (divided by n - 1).
- Keras: ``moving = m * moving + (1 - m) * batch`` with ``m = 0.99`` (m weighs the *old* average);
  the moving variance is updated with the *biased* batch variance (divided by n).

``convention="torch"`` (default) or ``"keras"`` picks the update rule, so that one layer reproduces either.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .validate import check_bool, check_choice, check_float, check_float_tensor, check_int

__all__ = ["batch_norm", "BatchNorm2d"]

CONVENTIONS = ("torch", "keras")


def batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None, *,
               training: bool = True, momentum: float = 0.1, eps: float = 1e-5, convention: str = "torch") -> Any:
    """Batch normalization of ``x`` (N, C, ...) over every axis but the channel axis 1; returns the output.

    Taught in chapter 4. In training (``training=True``) ``x`` is normalized with its own per-channel mean
    and biased variance, and ``running_mean``/``running_var`` (tensors of shape (C,), or ``None`` to keep
    none) are updated **in place** following ``convention`` (see the module's docstring: ``"torch"``
    updates the variance with the unbiased batch variance and weighs the batch by ``momentum``; ``"keras"``
    uses the biased one and weighs the old average by ``momentum``). In evaluation the running statistics
    are used. ``weight`` (gamma) and ``bias`` (beta), of shape (C,), are optional. Gradients flow through
    the batch statistics, as in the frameworks.
    """
    check_float_tensor(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a channel axis (N, C, ...), got shape {tuple(x.shape)}")
    check_bool(training, "training")
    momentum = check_float(momentum, "momentum", min=0.0, max=1.0)
    eps = check_float(eps, "eps", min=0.0)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    convention = check_choice(convention, "convention", CONVENTIONS)
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None:
            check_float_tensor(t, name, ndim=1)
            if t.shape[0] != channels:
                raise ValueError(f"{name} must have one value per channel ({channels}), got shape {tuple(t.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be given or both be None")
    if not training and running_mean is None:
        raise ValueError("evaluation mode (training=False) needs running_mean and running_var")
    axes = [0] + list(range(2, x.ndim))
    shape = [1, channels] + [1] * (x.ndim - 2)                   # broadcast a (C,) vector over (N, C, ...)
    if training:
        n = x.numel() // channels                                 # values per channel
        if n < 2:
            raise ValueError(f"x must hold more than one value per channel in training, got shape {tuple(x.shape)}")
        mean = x.mean(dim=axes)
        var = ((x - mean.view(shape)) ** 2).mean(dim=axes)       # biased: divided by n
        if running_mean is not None:
            with torch.no_grad():
                if convention == "torch":                        # m weighs the batch; unbiased variance
                    running_mean.mul_(1 - momentum).add_(momentum * mean)
                    running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
                else:                                            # m weighs the old average; biased variance
                    running_mean.mul_(momentum).add_((1 - momentum) * mean)
                    running_var.mul_(momentum).add_((1 - momentum) * var)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y


class BatchNorm2d(nn.Module):
    """Batch normalization for images (N, C, H, W), as ``torch.nn.BatchNorm2d(channels)``.

    Taught in chapter 4. ``affine`` adds the learned per-channel scale ``weight`` (gamma, starts at 1) and
    shift ``bias`` (beta, starts at 0); ``track_running_stats=False`` keeps no running statistics, so the
    layer uses batch statistics in evaluation too. ``momentum`` defaults to the convention's own default
    (0.1 for ``"torch"``, 0.99 for ``"keras"``). ``model.train()``/``model.eval()`` switch the mode.
    """

    def __init__(self, channels: int, *, eps: float = 1e-5, momentum: float | None = None, affine: bool = True,
                 track_running_stats: bool = True, convention: str = "torch") -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", min=1)
        self.convention = check_choice(convention, "convention", CONVENTIONS)
        default = 0.1 if self.convention == "torch" else 0.99
        self.momentum = default if momentum is None else check_float(momentum, "momentum", min=0.0, max=1.0)
        self.eps = check_float(eps, "eps", min=0.0)
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        self.affine = check_bool(affine, "affine")
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats")
        self.weight = nn.Parameter(torch.ones(self.channels)) if self.affine else None
        self.bias = nn.Parameter(torch.zeros(self.channels)) if self.affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(self.channels))
            self.register_buffer("running_var", torch.ones(self.channels))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x: Any) -> Any:
        """Normalize ``x`` (N, C, H, W): batch statistics in training mode, running ones in evaluation."""
        check_float_tensor(x, "x", ndim=4)
        if x.shape[1] != self.channels:
            raise ValueError(f"x must have {self.channels} channels (N, C, H, W), got shape {tuple(x.shape)}")
        if self.track_running_stats:
            return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training=self.training,
                              momentum=self.momentum, eps=self.eps, convention=self.convention)
        return batch_norm(x, None, None, self.weight, self.bias, training=True, momentum=self.momentum, eps=self.eps,
                          convention=self.convention)

    def extra_repr(self) -> str:
        return (f"{self.channels}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}, convention={self.convention!r}")
