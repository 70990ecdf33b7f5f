"""Floating-point formats for mixed precision: float32, float16, bfloat16 (and float8), rounding, loss scaling.

Taught in chapter 10. A binary floating-point number has a sign bit, ``e`` exponent bits and ``m`` mantissa
(fraction) bits. With the bias ``2^(e-1) - 1``, a normal number is ``(-1)^s * 1.f * 2^(E - bias)``; the
all-zero exponent holds zero and the **subnormals** ``0.f * 2^(1 - bias)``; the all-ones exponent holds
infinity and NaN (IEEE 754). Everything in :class:`FloatFormat` follows from ``e`` and ``m``: the exponent
bits set the **range** (largest finite value, smallest normal), the mantissa bits the **precision**
(machine epsilon ``2^-m``, about ``m log10(2)`` decimal digits). float16 spends 5 bits on the exponent and
10 on the mantissa; bfloat16 keeps float32's 8 exponent bits (same range) and only 7 mantissa bits.

:func:`round_to` rounds float64 values to a format from this bit layout (NumPy, round to nearest, ties to
even, overflow to infinity, gradual underflow through the subnormals). :class:`LossScaler` is dynamic loss
scaling for float16 training: multiply the loss by a large power of two so that small gradients do not
underflow to zero, divide it out of the gradients before the update, and skip the update (and halve the
scale) when a gradient overflowed to inf or NaN (Micikevicius et al., 2018, arXiv:1710.03740).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import as_float_array, check_bool, check_choice, check_float, check_instance, check_int, check_str

__all__ = ["FloatFormat", "FORMATS", "format_info", "round_to", "LossScaler", "Autocast"]


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format given by its exponent and mantissa bit counts.

    ``ieee``: the all-ones exponent is reserved for infinity and NaN (float32, float16, bfloat16,
    float8 e5m2). float8 e4m3fn has no infinity: only the all-ones pattern is NaN, which leaves one more
    binade of finite numbers, and values past its largest finite number saturate to it (as torch's
    conversion does).
    """

    name: str
    exponent_bits: int
    mantissa_bits: int
    ieee: bool = True

    def __post_init__(self) -> None:
        check_str(self.name, "name", nonempty=True)
        check_int(self.exponent_bits, "exponent_bits", min=2, max=11)  # round_to computes in float64
        check_int(self.mantissa_bits, "mantissa_bits", min=0, max=52)
        check_bool(self.ieee, "ieee")

    @property
    def bits(self) -> int:
        """Total width: sign + exponent + mantissa."""
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def bias(self) -> int:
        """Exponent bias ``2^(e-1) - 1``: a stored exponent ``E`` means ``2^(E - bias)``."""
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def max_exponent(self) -> int:
        """Largest unbiased exponent of a finite number."""
        return self.bias if self.ieee else self.bias + 1

    @property
    def min_exponent(self) -> int:
        """Unbiased exponent of the smallest normal number, ``1 - bias``."""
        return 1 - self.bias

    @property
    def eps(self) -> float:
        """Machine epsilon: the gap between 1 and the next larger number, ``2^-m``."""
        return 2.0 ** -self.mantissa_bits

    @property
    def max(self) -> float:
        """Largest finite number: ``(2 - 2^-m) 2^emax`` (e4m3fn: the all-ones mantissa is NaN, one step less)."""
        top = 2.0 - 2.0 ** -self.mantissa_bits * (1 if self.ieee else 2)
        return top * 2.0 ** self.max_exponent

    @property
    def smallest_normal(self) -> float:
        """Smallest positive normal number, ``2^(1 - bias)``."""
        return 2.0 ** self.min_exponent

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive (subnormal) number, ``2^(1 - bias - m)``."""
        return 2.0 ** (self.min_exponent - self.mantissa_bits)

    @property
    def decimal_digits(self) -> int:
        """Decimal digits that are always right: ``floor(-log10 eps) = floor(m log10 2)``."""
        return math.floor(self.mantissa_bits * math.log10(2))


#: The formats by name; the float8 ones are the OCP 8-bit formats (arXiv:2209.05433) that torch calls
#: ``float8_e4m3fn`` and ``float8_e5m2``.
FORMATS = {f.name: f for f in (FloatFormat("float32", 8, 23), FloatFormat("float16", 5, 10),
                              FloatFormat("bfloat16", 8, 7), FloatFormat("float8_e5m2", 5, 2),
                              FloatFormat("float8_e4m3fn", 4, 3, ieee=False))}


def format_info(dtype: Any) -> FloatFormat:
    """The :class:`FloatFormat` of ``dtype``: a name from :data:`FORMATS` or a torch/NumPy dtype."""
    return _format(dtype, "dtype")


def _format(dtype: Any, arg: str) -> FloatFormat:
    """:func:`format_info`, its errors naming the argument ``arg``."""
    if isinstance(dtype, FloatFormat):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, np.generic) or isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype).name  # np.float16 and np.dtype("float16") alike
    name = str(dtype).replace("torch.", "")
    name = {"half": "float16", "float": "float32"}.get(name, name)
    if not isinstance(dtype, str) and name not in FORMATS:
        raise TypeError(f"{arg} must be a float format ({', '.join(FORMATS)}) or its name, got {dtype!r}")
    return FORMATS[check_choice(name, arg, list(FORMATS))]


def round_to(x: Any, fmt: Any) -> np.ndarray:
    """``x`` rounded to the format ``fmt`` (a :class:`FloatFormat`, name or dtype), returned as float64.

    Round to nearest, ties to even, from the bit layout: a value in ``[2^k, 2^(k+1))`` lands on the grid of
    step ``2^(k - m)``, and below the smallest normal on the fixed subnormal step ``2^(1 - bias - m)``
    (so tiny values round to zero gradually). Past the largest finite number a value becomes infinity,
    exactly when it rounds up to ``2^(emax+1)`` (e4m3fn: saturates to its largest finite number). Signs,
    signed zeros, infinities and NaN are kept. Computed in float64, so the result is exact for every
    format narrower than float64; note that torch converts float64 to float16 and bfloat16 through float32,
    rounding twice, so its result can differ in the last bit for inputs that are not float32 numbers.
    """
    f = _format(fmt, "fmt (a format name or dtype)")
    a = as_float_array(x, "x", finite=False)
    mag = np.abs(a)
    finite = np.isfinite(a) & (mag > 0)
    safe = np.where(finite, mag, 1.0)
    _, k = np.frexp(safe)  # safe = frac * 2^k with frac in [0.5, 1): its exponent is k - 1
    exp = np.maximum(k - 1, f.min_exponent)  # subnormals share the smallest normal's step
    step = np.ldexp(1.0, exp - f.mantissa_bits)
    with np.errstate(over="ignore"):  # rounding up past float64's largest number gives inf, as it should
        rounded = np.round(safe / step) * step  # exact in float64; np.round ties to even
    over = rounded > f.max
    rounded = np.where(over, np.inf if f.ieee else f.max, rounded)
    out = np.where(finite, np.copysign(rounded, a), a)
    if not f.ieee:
        out = np.where(np.isinf(a), np.copysign(f.max, a), out)
    return out


class LossScaler:
    """Dynamic loss scaling from scratch, with the algorithm and defaults of ``torch.amp.GradScaler``.

    Each step: ``scale(loss).backward()``; ``step(optimizer)`` divides the gradients by the scale
    (``unscale_``, which can also be called first, to clip gradients) and calls ``optimizer.step()`` only
    if every gradient is finite; ``update()`` then halves the scale (``backoff_factor``) after a skipped
    step, or doubles it (``growth_factor``) after ``growth_interval`` successful steps in a row.
    ``skipped`` counts the skipped steps.
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000) -> None:
        self._scale = check_float(init_scale, "init_scale", min=0.0, min_open=True)
        self.growth_factor = check_float(growth_factor, "growth_factor", min=1.0, min_open=True)
        self.backoff_factor = check_float(backoff_factor, "backoff_factor", min=0.0, max=1.0, min_open=True,
                                          max_open=True)
        self.growth_interval = check_int(growth_interval, "growth_interval", min=1)
        self._good_steps = 0
        self._found_inf: bool | None = None  # None: not unscaled since the last update
        self.skipped = 0

    def get_scale(self) -> float:
        """The current scale."""
        return self._scale

    def scale(self, loss: Any) -> Any:
        """``loss * scale`` (a torch tensor): its backward pass gives gradients ``scale`` times larger."""
        import torch

        check_instance(loss, "loss", torch.Tensor, "a torch tensor (the loss)")
        return loss * self._scale

    def unscale_(self, optimizer: Any) -> bool:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place; return whether any was
        inf or NaN. Once per step: a second call before :meth:`update` raises ``RuntimeError``."""
        import torch

        check_instance(optimizer, "optimizer", torch.optim.Optimizer, "a torch.optim.Optimizer")
        if self._found_inf is not None:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update()")
        found = False
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p.grad.mul_(1.0 / self._scale)  # a power of two: exact unless the gradient underflows
                    found = found or not bool(torch.isfinite(p.grad).all())
        self._found_inf = found
        return found

    def step(self, optimizer: Any) -> bool:
        """Unscale if not done yet, then ``optimizer.step()`` unless a gradient is inf/NaN; return whether it
        stepped."""
        if self._found_inf is None:
            self.unscale_(optimizer)
        if self._found_inf:
            self.skipped += 1
            return False
        optimizer.step()
        return True

    def update(self) -> float:
        """Adjust the scale after a step (halve after an overflow, grow after ``growth_interval`` good steps in
        a row); return the new scale."""
        if self._found_inf is None:
            raise RuntimeError("update() needs a step() (or unscale_()) since the last update()")
        if self._found_inf:
            self._scale *= self.backoff_factor
            self._good_steps = 0
        else:
            self._good_steps += 1
            if self._good_steps == self.growth_interval:
                self._scale *= self.growth_factor
                self._good_steps = 0
        self._found_inf = None
        return self._scale


def Autocast(model: Any, dtype: Any = None) -> Any:  # noqa: N802 (builds a module, named like one)
    """``model`` with its forward pass under ``torch.autocast`` in ``dtype`` (bfloat16 by default), on the input's
    device; the output comes back as float32, so losses and ``tk.fit`` see float32 (mixed-precision training)."""
    import torch
    from torch import nn

    check_instance(model, "model", nn.Module, "a torch.nn.Module")
    dtype = torch.bfloat16 if dtype is None else dtype
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be torch.bfloat16 or torch.float16, got {dtype!r}")

    class _Autocast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            with torch.autocast(x.device.type, dtype=dtype):
                return self.model(x).float()

    return _Autocast()

