"""Calibration: choosing the clipping range of an activation tensor from sample values, then its qparams.

Taught in chapter 10. Static quantization fixes each activation's range ``[lo, hi]`` before deployment,
from the values it takes on a few hundred **calibration** inputs. The largest value (min-max) wastes the
grid on rare outliers: a wider range means a larger step, so a larger rounding error for every typical
value. Clipping the range below the maximum trades that rounding error for a **clipping** error on the
few values beyond it. Four ways to choose the range (Wu et al., 2020, arXiv 2004.09602, section 4):

- ``minmax_range``: the smallest and largest value (no clipping);
- ``percentile_range``: the ``q``-th percentile (and the ``100 - q``-th below);
- ``mse_range``: the range whose quantizer has the smallest mean squared error on the samples;
- ``entropy_range``: the threshold whose quantized histogram is closest, in KL divergence, to the
  histogram of the samples (the method of TensorRT).

Every range contains 0 (0.0 stays exact); :func:`qparams_from_range` turns it into ``QParams`` as
``choose_qparams`` does. :mod:`troikadl.compress.observers` reads off what PyTorch's static quantization
(FX, x86) chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import as_float_array, check_bool, check_choice, check_float, check_in_range, check_instance, check_int
from .quantize import QParams, choose_qparams, dequantize, int_range, quantize

__all__ = ["METHODS", "minmax_range", "percentile_range", "mse_range", "entropy_range", "qparams_from_range",
           "calibrate", "QuantError", "quant_error"]

#: The calibration methods :func:`calibrate` knows.
METHODS = ("minmax", "percentile", "mse", "entropy")


def _values(x: Any) -> np.ndarray:
    """``x`` flattened to a float64 vector of finite numbers, at least one."""
    return as_float_array(x, "x", nonempty=True).reshape(-1)


def _bits(bits: Any) -> int:
    return int_range(bits, False)[1].bit_length()  # checks bits against SUPPORTED_BITS


def minmax_range(x: Any) -> tuple[float, float]:
    """``(min(x, 0), max(x, 0))``: the whole range of the samples (no value is clipped)."""
    v = _values(x)
    return min(float(v.min()), 0.0), max(float(v.max()), 0.0)


def percentile_range(x: Any, q: float = 99.99, *, symmetric: bool = False) -> tuple[float, float]:
    """The range from percentiles: ``(P_{100-q}(x), P_q(x))``, widened to contain 0.

    Linear interpolation between order statistics, as ``np.percentile`` and ``torch.quantile`` do. For
    non-negative data (ReLU outputs) the range is ``(0, P_q(x))``: clipped at the top only.
    ``symmetric``: ``(-a, a)`` with ``a = P_q(|x|)``. ``q`` must lie in ``(50, 100]``.
    """
    v = _values(x)
    q = check_in_range(q, "q", 50.0, 100.0, closed="right")
    if check_bool(symmetric, "symmetric"):
        a = float(np.percentile(np.abs(v), q))
        return -a, a
    lo, hi = np.percentile(v, [100.0 - q, q])
    return min(float(lo), 0.0), max(float(hi), 0.0)


def qparams_from_range(lo: float, hi: float, *, bits: int = 8, symmetric: bool = False,
                       dtype: Any = np.float64) -> QParams:
    """The :class:`QParams` of the range ``[lo, hi]`` (widened to contain 0), as ``choose_qparams`` builds them.

    Asymmetric: ``scale = (hi - lo) / (2^b - 1)`` and the zero point ``round(-lo / scale)``; symmetric:
    ``scale = max(|lo|, |hi|) / (2^(b-1) - 1)``, zero point 0. ``dtype`` (float32 or float64) is what
    ``dequantize`` will return.
    """
    lo, hi = check_float(lo, "lo"), check_float(hi, "hi")
    if lo > hi:
        raise ValueError(f"lo must be <= hi, got lo={lo:g} > hi={hi:g}")
    qp = choose_qparams(np.array([lo, hi], dtype=np.float64), bits=bits, symmetric=symmetric)
    try:
        np_dtype = np.dtype(dtype) if dtype is not None else None  # np.dtype(None) would be float64
    except TypeError:
        np_dtype = None
    if np_dtype is None or np_dtype.name not in ("float32", "float64"):  # (a dtype equals None: no check_choice)
        raise TypeError(f"dtype must be float32 or float64 (a NumPy dtype), got {dtype!r:.60}")
    qp.dtype = np_dtype.type
    return qp


def mse_range(x: Any, *, bits: int = 8, symmetric: bool = False, grid: int = 100) -> tuple[float, float]:
    """The range minimizing the mean squared quantization error on ``x``, over a grid of clipped ranges.

    The candidates shrink the min-max range ``(lo, hi)`` (symmetric: ``(-m, m)``, ``m = max |x|``) by
    ``alpha = k / grid``, ``k = 1, ..., grid`` (keeping ``lo : hi``; for ReLU outputs a search over ``hi``).
    Each is scored with the real quantizer on every value (exact zeros are skipped: every candidate
    represents 0.0 exactly). Ties go to the smallest ``k``.
    """
    v = _values(x)
    b = _bits(bits)
    check_bool(symmetric, "symmetric")
    grid = check_int(grid, "grid", min=1)
    lo, hi = minmax_range(v)
    if symmetric:
        lo, hi = -max(-lo, hi), max(-lo, hi)
    alpha = np.arange(1, grid + 1) / grid
    lows, highs, v = alpha * lo, alpha * hi, v[v != 0]
    if v.size == 0 or highs[-1] == lows[-1]:
        return float(lows[-1]), float(highs[-1])
    qps = [qparams_from_range(lo, hi, bits=b, symmetric=symmetric) for lo, hi in zip(lows, highs)]
    k = int(np.argmin([np.mean((dequantize(quantize(v, qp), qp) - v) ** 2) for qp in qps]))
    return float(lows[k]), float(highs[k])


def _kl_threshold_bin(hist: np.ndarray, levels: int) -> int:
    """The number of histogram bins ``i`` (``levels <= i <= len(hist)``) whose quantized copy is closest in KL.

    The reference ``p`` is ``hist[:i]`` plus the mass beyond it in its last bin; ``q`` merges ``hist[:i]``
    into ``levels`` groups (bin ``j`` into ``floor(j * levels / i)``), each spread evenly over its non-empty
    bins. KL(p || q) is infinite (skipped) where ``q`` is 0 and ``p`` is not; ties go to the smallest ``i``.
    """
    best, best_i = np.inf, len(hist)
    for i in range(levels, len(hist) + 1):
        p = hist[:i].astype(np.float64)
        p[-1] += hist[i:].sum()
        group = (np.arange(i) * levels) // i
        nonempty = hist[:i] > 0
        sums = np.bincount(group, weights=hist[:i], minlength=levels)
        counts = np.bincount(group, weights=nonempty, minlength=levels)
        q = np.where(nonempty, sums[group] / np.maximum(counts[group], 1), 0.0)
        support = p > 0
        if q.sum() == 0 or np.any(q[support] == 0):
            continue  # infinite divergence
        p, q = p[support] / p.sum(), q[support] / q.sum()
        kl = float(np.sum(p * np.log(p / q)))
        if kl < best:
            best, best_i = kl, i
    return best_i


def entropy_range(x: Any, *, bits: int = 8, bins: int = 2048) -> tuple[float, float]:
    """The KL (entropy) calibration of TensorRT: the threshold whose quantized histogram loses least information.

    A ``bins``-bin histogram over ``[0, max]`` of ``x`` (non-negative data) or of ``|x|``, exact zeros left
    out (0.0 is exact anyway; the ReLU spike at 0 would dominate), is compared, up to each candidate
    threshold (a bin edge), with its quantization into ``2^b`` levels (non-negative data, unsigned) or
    ``2^(b-1)`` (signed, symmetric); the smallest KL divergence wins (:func:`_kl_threshold_bin`). Returns
    ``(0, t)`` or ``(-t, t)``. Described by Wu et al. (2020, arXiv 2004.09602); ``bins >= 2^b``.
    """
    v = _values(x)
    b = _bits(bits)
    signed = bool(v.min() < 0)
    levels = 2 ** (b - 1) if signed else 2 ** b
    bins = check_int(bins, "bins", min=levels)
    mag = np.abs(v[v != 0])
    if mag.size == 0:
        return 0.0, 0.0
    hist, edges = np.histogram(mag, bins=bins, range=(0.0, float(mag.max())))
    t = float(edges[_kl_threshold_bin(hist, levels)])
    return (-t, t) if signed else (0.0, t)


def calibrate(x: Any, method: str = "minmax", *, bits: int = 8, symmetric: bool = False,
              q: float = 99.99, grid: int = 100, bins: int = 2048) -> QParams:
    """The :class:`QParams` of ``x``'s range chosen by ``method`` (one of :data:`METHODS`).

    ``q``, ``grid`` and ``bins`` are the options of the percentile, MSE and entropy methods. The result's
    ``dtype`` is float32 for float32 samples (NumPy or torch), else float64.
    """
    check_choice(method, "method", METHODS)
    b = _bits(bits)
    check_bool(symmetric, "symmetric")
    check_in_range(q, "q", 50.0, 100.0, closed="right")  # every option is checked, whichever method uses it
    check_int(grid, "grid", min=1)
    check_int(bins, "bins", min=1)
    lo, hi = {"minmax": lambda: minmax_range(x), "percentile": lambda: percentile_range(x, q, symmetric=symmetric),
              "mse": lambda: mse_range(x, bits=b, symmetric=symmetric, grid=grid),
              "entropy": lambda: entropy_range(x, bits=b, bins=bins)}[method]()
    dtype = np.float32 if str(getattr(x, "dtype", "")) in ("float32", "torch.float32") else np.float64
    return qparams_from_range(lo, hi, bits=b, symmetric=symmetric, dtype=dtype)


@dataclass
class QuantError:
    """Mean squared quantization error, split: ``mse = rounding + clipping`` (each summed over its values / n).

    ``clipping`` comes from values whose code fell outside ``[qmin, qmax]`` (the fraction ``clipped``).
    """

    mse: float
    rounding: float
    clipping: float
    clipped: float


def quant_error(x: Any, qp: QParams) -> QuantError:
    """The :class:`QuantError` of quantizing ``x`` with per-tensor ``qp`` (quantize, then dequantize)."""
    v = _values(x)
    check_instance(qp, "qp", QParams, "QParams (from calibrate or choose_qparams)")
    if qp.axis is not None:
        raise ValueError(f"qp must be per tensor (axis None), got axis {qp.axis}")
    sq = (dequantize(quantize(v, qp), qp).astype(np.float64) - v) ** 2
    code = np.round(v / float(qp.scale)) + int(qp.zero_point)
    out = (code < qp.qmin) | (code > qp.qmax)
    return QuantError(float(sq.mean()), float(sq[~out].sum() / v.size), float(sq[out].sum() / v.size),
                      float(out.mean()))
