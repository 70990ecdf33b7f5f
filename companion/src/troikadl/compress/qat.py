"""Quantization-aware training that also quantizes activations: an observed, then frozen, activation range.

Taught in chapter 10. Weights are known before inference, so their range is taken from the weights
themselves (:func:`troikadl.compress.quantize.quantize_weights`). Activations change with every input, and
an integer runtime with static quantization needs one fixed scale and zero point per activation tensor,
chosen before it sees the test data. During training :class:`ActFakeQuant` therefore **observes** the range
of the activations it sees, as an exponential moving average of each batch's min and max (the first batch
sets it; then ``lo += c (min - lo)`` with ``c = 0.01``, as PyTorch's ``MovingAverageMinMaxObserver``), and
fake-quantizes them with that range, asymmetric and unsigned (``[0, 2^b - 1]``, a range containing 0:
ReLU outputs are never negative), with the straight-through estimator. In evaluation mode the range is
**frozen**: the model computes what the integer model will (Jacob et al., 2018, arXiv:1712.05877).

:func:`quantize_model` puts the fake quantizers where a static int8 runtime quantizes: the weights of every
``nn.Linear`` (per channel, symmetric) and the activations entering each ``nn.Linear`` (the input, and
the output of each ReLU). :func:`calibrate` sets the activation ranges by min-max on one batch of data,
without training: post-training static quantization.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..validate import as_float_array, check_choice, check_float, check_float_tensor, check_int
from ._checks import check_module
from .quantize import SUPPORTED_BITS, quantize_weights

__all__ = ["ActFakeQuant", "fake_quantize_affine", "quantize_model", "calibrate", "act_quantizers"]


def fake_quantize_affine(x: Any, scale: Any, zero_point: Any, qmin: int, qmax: int) -> Any:
    """Quantize-dequantize ``x`` with a given per-tensor ``scale`` and ``zero_point``, gradient by the STE.

    Forward: ``(clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale``, with ``x / scale``
    computed as ``x * (1 / scale)`` as PyTorch's kernel does (round half to even). Backward: the gradient
    passes unchanged where ``round(x / scale) + zero_point`` lies in ``[qmin, qmax]``, and is zero outside.
    """
    check_float_tensor(x, "x", finite=False)
    qmin, qmax = check_int(qmin, "qmin"), check_int(qmax, "qmax", min=qmin + 1)
    if not isinstance(scale, torch.Tensor):
        scale = check_float(scale, "scale", min=0.0, min_open=True)
    elif scale.numel() != 1 or not scale.dtype.is_floating_point:
        raise TypeError(f"scale must be one number > 0 (a float or a 1-element float tensor), got {scale!r:.60}")
    scale = torch.as_tensor(scale, dtype=torch.float32, device=x.device)
    if not bool((scale > 0) & torch.isfinite(scale)):
        raise ValueError(f"scale must be one finite number > 0, got {scale.tolist()}")
    if not isinstance(zero_point, torch.Tensor):
        zero_point = check_int(zero_point, "zero_point", min=qmin, max=qmax)
    elif zero_point.numel() != 1 or zero_point.dtype.is_floating_point or zero_point.dtype.is_complex:
        raise TypeError(f"zero_point must be one integer (an int or 1-element integer tensor), got {zero_point!r:.50}")
    zero = torch.as_tensor(zero_point, device=x.device).to(torch.float32)
    unclamped = torch.round(x * (1.0 / scale)) + zero
    out = (torch.clamp(unclamped, qmin, qmax) - zero) * scale
    inside = ((unclamped >= qmin) & (unclamped <= qmax)).to(x.dtype)
    return x * inside + (out.to(x.dtype) - x * inside).detach()


class ActFakeQuant(nn.Module):
    """Fake quantization of activations with an observed range: EMA of min/max in training, frozen in eval.

    ``bits``: 2 to 8 (the range is ``[0, 2^bits - 1]``); ``averaging_constant``: the EMA weight ``c`` of
    each new batch. Buffers ``min_val``/``max_val`` (inf/-inf until the first batch), ``scale`` and
    ``zero_point``, computed from ``[min(lo, 0), max(hi, 0)]`` as ``scale = max(range / (2^b - 1), eps32)``,
    ``zero_point = clamp(-round(lo / scale), 0, 2^b - 1)``, PyTorch's formulas. Observes in training mode
    (or while ``observe`` is True), never in evaluation mode; evaluating before any batch was observed
    raises ``RuntimeError``.
    """

    def __init__(self, bits: int = 8, averaging_constant: float = 0.01) -> None:
        super().__init__()
        self.bits = check_choice(check_int(bits, "bits"), "bits", SUPPORTED_BITS)
        self.averaging_constant = check_float(averaging_constant, "averaging_constant", min=0.0, max=1.0,
                                              min_open=True)
        self.qmin, self.qmax = 0, 2 ** self.bits - 1
        self.observe = False
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("zero_point", torch.tensor(0, dtype=torch.int64))

    @property
    def observed(self) -> bool:
        """Whether a range has been observed."""
        return bool(torch.isfinite(self.min_val))

    def _observe(self, x: Any) -> None:
        if x.numel() == 0:
            return  # an empty batch has no range: nothing to observe
        with torch.no_grad():
            lo, hi = torch.aminmax(x.detach().to(torch.float32))
            if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
                raise ValueError("x must be finite, but it holds NaN or infinity")
            if not self.observed:
                self.min_val.copy_(lo)
                self.max_val.copy_(hi)
            else:
                c = self.averaging_constant
                self.min_val.copy_(self.min_val + c * (lo - self.min_val))
                self.max_val.copy_(self.max_val + c * (hi - self.max_val))
            lo, hi = torch.clamp(self.min_val, max=0.0), torch.clamp(self.max_val, min=0.0)
            eps = torch.tensor(torch.finfo(torch.float32).eps, device=lo.device)
            scale = torch.maximum((hi - lo) / float(self.qmax - self.qmin), eps)
            zero = torch.clamp(self.qmin - torch.round(lo / scale).to(torch.int64), self.qmin, self.qmax)
            self.scale.copy_(scale)
            self.zero_point.copy_(zero)

    def forward(self, x: Any) -> Any:
        """Observe ``x`` (training mode only), then fake-quantize it with the current range."""
        check_float_tensor(x, "x", finite=False)
        if self.training or self.observe:
            self._observe(x)
        elif not self.observed:
            raise RuntimeError("ActFakeQuant has no activation range yet: train it or calibrate() first")
        return fake_quantize_affine(x, self.scale, self.zero_point, self.qmin, self.qmax)

    def extra_repr(self) -> str:
        """Bits, scale, zero point and observed range, for ``print(model)``."""
        return (f"bits={self.bits}, scale={float(self.scale):.4g}, zero_point={int(self.zero_point)}, "
                f"range=[{float(self.min_val):.4g}, {float(self.max_val):.4g}]")


def quantize_model(model: Any, w_bits: int | None, a_bits: int | None = None) -> Any:
    """A copy of an MLP-style ``nn.Sequential`` with fake-quantized weights and activations, for PTQ and QAT.

    ``nn.Linear`` weights are fake-quantized per output channel, symmetric, to ``w_bits`` (as
    :func:`~troikadl.compress.quantize.quantize_weights` does; ``None``: float weights), and an
    :class:`ActFakeQuant` of ``a_bits`` goes on the input and after every ``nn.ReLU`` (the activations that
    enter the next ``nn.Linear``); ``a_bits=None`` quantizes the weights only. The copy is in training mode
    (its activation ranges are observed as it trains) or use :func:`calibrate` for PTQ.
    """
    check_module(model)
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential (such as tk.cnn.mlp(...)), got {type(model).__name__}")
    if w_bits is None and a_bits is None:
        raise ValueError("w_bits and a_bits are both None: nothing to quantize")
    if a_bits is not None:
        check_choice(check_int(a_bits, "a_bits"), "a_bits", SUPPORTED_BITS)
    if w_bits is not None:
        check_choice(check_int(w_bits, "w_bits"), "w_bits", SUPPORTED_BITS)
        new = quantize_weights(model, w_bits)
    else:
        new = copy.deepcopy(model)
        if not any(isinstance(m, nn.Linear) for m in new):
            raise ValueError("model has no nn.Linear layers to quantize")
    if a_bits is None:
        return new.train()
    layers: list[Any] = [ActFakeQuant(a_bits)]
    for m in new:
        layers.append(m)
        if isinstance(m, nn.ReLU):
            layers.append(ActFakeQuant(a_bits))
    param = next(new.parameters(), None)
    out = nn.Sequential(*layers)
    return out.to(param.device) if param is not None else out


def act_quantizers(model: Any) -> list[Any]:
    """The :class:`ActFakeQuant` modules of ``model``, in order."""
    check_module(model)
    return [m for m in model.modules() if isinstance(m, ActFakeQuant)]


def calibrate(model: Any, X: Any) -> Any:
    """Set every activation range of ``model`` by min-max on the batch ``X`` (array or tensor); return
    ``model`` in evaluation mode, ranges frozen. The ranges are reset first, so the result is each
    activation's plain min and max over ``X``."""
    quants = act_quantizers(model)
    if not quants:
        raise ValueError("model has no ActFakeQuant modules to calibrate (use quantize_model with a_bits)")
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    xt = torch.as_tensor(as_float_array(X, "X", nonempty=True), dtype=dtype,
                         device=param.device if param is not None else None)
    model.eval()
    for q in quants:
        q.min_val.fill_(float("inf"))
        q.max_val.fill_(float("-inf"))
        q.observe = True
    try:
        with torch.no_grad():
            model(xt)
    except RuntimeError as exc:  # torch's shape errors: X does not fit the model
        raise ValueError(f"X of shape {tuple(xt.shape)} does not fit model: {str(exc)[:200]}") from exc
    finally:
        for q in quants:
            q.observe = False
    return model
