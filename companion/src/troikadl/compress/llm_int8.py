"""LLM.int8(): vector-wise int8 matrix products with the outlier dimensions kept in floating point.

Taught in chapter 10. Dettmers et al. (2022) quantize both operands of ``X @ W`` to int8 with absmax
scales, ``C = round(127 * v / max|v|)``, and accumulate in int32. *Per tensor*, one scale serves the whole
activation matrix, so a single large value coarsens every step. *Vector-wise*, each row of ``X`` (a token)
and each column of ``W`` (an output unit) has its own scale: ``X @ W ~ (s_x s_w^T) * (C_x @ C_w)``. Large
models also grow **outlier features**: a few hidden dimensions where activations reach 20-60 while the
rest stay near 1. The **mixed-precision decomposition** multiplies the hidden dimensions where some
``|x| >= threshold`` (6.0 in the paper) in floating point, and the rest vector-wise in int8::

    X @ W = X[:, O] @ W[O, :]  +  int8(X[:, ~O]) @ int8(W[~O, :])

Here ``W`` is (in, out), the paper's notation (an ``nn.Linear`` computes ``x @ weight.T``). The integer
product is computed on the CPU in int32; the float part in the inputs' dtype (the paper uses float16).
:func:`plant_outliers` makes a small GPT show such outliers without changing its function.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..validate import check_choice, check_float, check_float_tensor, check_instance, check_int_list
from ._checks import check_axis, check_module

__all__ = ["absmax_int8", "int8_matmul", "outlier_dims", "llm_int8_parts", "llm_int8_matmul", "Int8Linear",
           "replace_linears", "activation_absmax", "plant_outliers"]

MODES = ("float", "tensor", "vector", "llm_int8")


def _operands(X: Any, W: Any) -> tuple[torch.Tensor, torch.Tensor]:
    check_float_tensor(X, "X")
    check_float_tensor(W, "W")
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"X must be (n, d) and W (d, m) with the same d, got shapes {tuple(X.shape)} and "
                         f"{tuple(W.shape)}")
    if X.dtype != W.dtype:
        raise TypeError(f"X and W must have the same dtype, got {X.dtype} and {W.dtype}")
    return X.detach(), W.detach()


def _absmax(v: torch.Tensor, dim: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if v.numel() == 0:  # an empty batch: nothing to scale (amax has no identity)
        amax = v.new_zeros(() if dim is None else tuple(1 if i == dim else n for i, n in enumerate(v.shape)))
    else:
        amax = v.abs().amax() if dim is None else v.abs().amax(dim=dim, keepdim=True)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    return torch.round(v / scale).clamp(-127, 127).to(torch.int8), scale


def absmax_int8(v: torch.Tensor, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, scale)``: ``codes = round(v / scale)`` as int8, ``scale = max|v| / 127`` over ``dim``.

    ``dim=None``: one scale for the tensor; ``dim=1``: one per row; ``dim=0``: one per column (kept as a
    broadcastable dimension). An all-zero slice gets scale 1.
    """
    check_float_tensor(v, "v")
    if dim is not None:
        dim = check_axis(dim, v.ndim, "dim")
    return _absmax(v.detach(), dim)


def _int_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """int8 @ int8 accumulated in int32, on the CPU (exact while ``d * 127^2 < 2^31``, d < 133,000)."""
    return a.cpu().to(torch.int32) @ b.cpu().to(torch.int32)


def _int8_mm(X: torch.Tensor, W: torch.Tensor, per: str) -> torch.Tensor:
    cx, sx = _absmax(X, None if per == "tensor" else 1)
    cw, sw = _absmax(W, None if per == "tensor" else 0)
    return _int_matmul(cx, cw).to(device=X.device, dtype=X.dtype) * (sx * sw)


def int8_matmul(X: Any, W: Any, per: str = "vector") -> torch.Tensor:
    """``X @ W`` with both operands in int8 and the products summed in int32, then rescaled.

    ``per="tensor"``: one absmax scale for ``X`` and one for ``W`` (W8A8 per tensor); ``per="vector"``: a
    scale per row of ``X`` and per column of ``W`` (LLM.int8()'s vector-wise quantization).
    """
    X, W = _operands(X, W)
    return _int8_mm(X, W, check_choice(per, "per", ("tensor", "vector")))


def outlier_dims(X: Any, threshold: float = 6.0) -> torch.Tensor:
    """A boolean mask over the hidden dimensions (columns of ``X``): True where some ``|x| >= threshold``."""
    check_float_tensor(X, "X")
    t = check_float(threshold, "threshold", min=0.0, finite=False)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (tokens, hidden), got shape {tuple(X.shape)}")
    return (X.detach().abs() >= t).any(dim=0)


def llm_int8_parts(X: Any, W: Any, threshold: float = 6.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(float_part, int8_part, outliers)``: the two terms of the decomposition and the outlier mask.

    ``float_part = X[:, O] @ W[O, :]`` in floating point; ``int8_part`` is :func:`int8_matmul` vector-wise
    of the other dimensions (zeros if there are none). Their sum is :func:`llm_int8_matmul`.
    """
    X, W = _operands(X, W)
    t = check_float(threshold, "threshold", min=0.0, finite=False)
    return _parts(X, W, t)


def _parts(X: torch.Tensor, W: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    outliers = (X.abs() >= threshold).any(dim=0)
    float_part = X[:, outliers] @ W[outliers, :]
    keep = ~outliers
    if bool(keep.any()):
        int8_part = _int8_mm(X[:, keep], W[keep, :], "vector")
    else:
        int8_part = torch.zeros_like(float_part)
    return float_part, int8_part, outliers


def llm_int8_matmul(X: Any, W: Any, threshold: float = 6.0) -> tuple[torch.Tensor, int]:
    """``(X @ W as LLM.int8() computes it, number of outlier dimensions multiplied in floating point)``.

    ``threshold=inf`` gives vector-wise int8 throughout; ``threshold=0`` the floating-point product.
    """
    float_part, int8_part, outliers = llm_int8_parts(X, W, threshold)
    return float_part + int8_part, int(outliers.sum())


class Int8Linear(nn.Module):
    """An ``nn.Linear`` computed through a chosen matmul: ``mode`` one of ``float``, ``tensor`` (int8 per
    tensor, weights and activations), ``vector`` (vector-wise int8) or ``llm_int8`` (with ``threshold``).

    The activations' scales are computed from each call's input (dynamic quantization). ``outliers`` holds
    the number of outlier dimensions of the last call, ``calls`` and ``outlier_total`` running counts.
    """

    def __init__(self, linear: nn.Linear, mode: str = "llm_int8", threshold: float = 6.0) -> None:
        super().__init__()
        self.linear = check_instance(linear, "linear", nn.Linear, "an nn.Linear")
        self.mode = check_choice(mode, "mode", MODES)
        self.threshold = check_float(threshold, "threshold", min=0.0, finite=False)
        self.outliers, self.calls, self.outlier_total = 0, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ weight.T + bias`` through the chosen matmul; ``x`` is ``(..., in_features)``."""
        check_float_tensor(x, "x", finite=False)
        if x.ndim == 0 or x.shape[-1] != self.linear.in_features:
            raise ValueError(f"x must be (..., {self.linear.in_features}) (the layer's in_features), "
                             f"got shape {tuple(x.shape)}")
        lead, d = x.shape[:-1], x.shape[-1]
        x2, w = x.reshape(-1, d), self.linear.weight.T
        if self.mode == "float":
            out, n = x2 @ w, 0
        elif self.mode == "llm_int8":
            float_part, int8_part, outliers = _parts(x2.detach(), w.detach(), self.threshold)
            out, n = float_part + int8_part, int(outliers.sum())
        else:
            out, n = _int8_mm(x2.detach(), w.detach(), self.mode), 0
        self.outliers, self.calls, self.outlier_total = n, self.calls + 1, self.outlier_total + n
        if self.linear.bias is not None:
            out = out + self.linear.bias
        return out.reshape(*lead, -1)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, threshold={self.threshold}"


def replace_linears(model: Any, mode: str = "llm_int8", threshold: float = 6.0) -> Any:
    """A copy of ``model`` with every ``nn.Linear`` wrapped in :class:`Int8Linear` (same weights)."""
    check_module(model)
    check_choice(mode, "mode", MODES)
    new = copy.deepcopy(model)
    names = [n for n, m in new.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("model has no nn.Linear layers to replace")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = new.get_submodule(parent_name) if parent_name else new
        setattr(parent, child, Int8Linear(getattr(parent, child), mode, threshold))
    return new


@torch.no_grad()
def activation_absmax(model: Any, *args: Any) -> dict[str, torch.Tensor]:
    """Per ``nn.Linear`` of ``model`` (by name), the max ``|x|`` of each input dimension over the call
    ``model(*args)``: the activation profile in which outlier features show (on the CPU)."""
    check_module(model)
    out: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def fn(_module: nn.Module, inputs: tuple) -> None:
            a = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(dim=0).cpu()
            out[name] = torch.maximum(out[name], a) if name in out else a
        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not handles:
        raise ValueError("model has no nn.Linear layers to profile")
    try:
        model(*args)
    finally:
        for h in handles:
            h.remove()
    return out


def plant_outliers(gpt: Any, channels: Any, alpha: float = 40.0) -> Any:
    """A copy of a pre-norm GPT computing the same function, whose ``channels`` carry outliers.

    In every block, the gain and bias of ``ln1`` and ``ln2`` are multiplied by ``alpha`` on ``channels``,
    and the matching input columns of the layers that read them (``qkv`` and ``up``) divided by ``alpha``:
    ``W[:, c] / alpha * (alpha * y_c) = W[:, c] y_c``, equal up to float rounding. The residual stream is
    untouched; the inputs of ``qkv`` and ``up`` now have a few dimensions ``alpha`` times larger than the rest.
    """
    from ..transformer import GPT

    check_instance(gpt, "gpt", GPT, "a troikadl.transformer.GPT")
    if not gpt.config.norm_first:
        raise ValueError("gpt must be pre-norm (norm_first=True): a post-norm LayerNorm feeds the residual "
                         "stream, which other layers read unscaled")
    d = gpt.config.d_model
    chans = check_int_list(channels, "channels", min=0, max=d - 1)
    if not chans or len(set(chans)) != len(chans):
        raise ValueError(f"channels must be distinct hidden dimensions in [0, {d - 1}], got {chans}")
    a = check_float(alpha, "alpha", min=0.0, min_open=True)
    new = copy.deepcopy(gpt)
    with torch.no_grad():
        for block in new.blocks:
            for norm, reader in ((block.ln1, block.qkv), (block.ln2, block.up)):
                norm.weight[chans] *= a
                norm.bias[chans] *= a
                reader.weight[:, chans] /= a
    return new
