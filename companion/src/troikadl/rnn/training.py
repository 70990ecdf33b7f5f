"""What chapter 5 trains: ``SequenceModel`` (a PyTorch recurrent layer read out at the last step) and
``clip_grad_norm``, gradient clipping by the global norm, from scratch."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..validate import as_float_array, check_positive

__all__ = ["clip_grad_norm", "SequenceModel"]

_CELLS = ("RNN", "GRU", "LSTM")


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm``.

    Returns the (possibly) scaled gradients and the norm before clipping, like
    ``torch.nn.utils.clip_grad_norm_``. The direction of the update is kept; only its length shrinks.
    """
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list or tuple of arrays, got {type(grads).__name__}")
    grads = [as_float_array(g, f"grads[{i}]") for i, g in enumerate(grads)]
    check_positive(max_norm, "max_norm")
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [g * scale for g in grads], norm


class SequenceModel(nn.Module):
    """A PyTorch ``nn.RNN`` (tanh), ``nn.GRU`` or ``nn.LSTM`` layer read out by a linear layer at the last step.

    ``cell`` is "RNN", "GRU" or "LSTM"; ``n_in`` features per step, ``hidden`` state size, ``n_out`` outputs.
    Outputs (batch, n_out), squeezed to (batch,) when ``n_out == 1``. Accepts (batch, time) inputs
    as one feature per step.
    """

    def __init__(self, cell: str, n_in: int, hidden: int, n_out: int) -> None:
        if not isinstance(cell, str) or cell not in _CELLS:
            raise ValueError(f"cell must be 'RNN', 'GRU' or 'LSTM', got {cell!r}")
        for name, value in (("n_in", n_in), ("hidden", hidden), ("n_out", n_out)):
            check_positive(value, name, integer=True)
        super().__init__()
        self.cell, self.n_in, self.hidden, self.n_out = cell, int(n_in), int(hidden), int(n_out)
        self.recurrent = getattr(nn, cell)(self.n_in, self.hidden, batch_first=True)
        self.readout = nn.Linear(self.hidden, self.n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_in = self.n_in
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point torch tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if not torch.isfinite(x).all():
            raise ValueError("x must be finite, but it holds NaN or infinity")
        if x.dim() == 2 and n_in == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 3 or x.shape[-1] != n_in or 0 in x.shape:
            raise ValueError(f"x must be (batch, time, {n_in})" + (" or (batch, time)" if n_in == 1 else "")
                             + f" with batch, time >= 1, got {tuple(x.shape)}")
        out = self.readout(self.recurrent(x)[0][:, -1])
        return out.squeeze(-1) if self.n_out == 1 else out
