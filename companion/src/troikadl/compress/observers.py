"""What PyTorch's static int8 quantization chose: its observers, their ranges and the qparams (chapter 10).

Taught in chapter 10, beside :mod:`troikadl.compress.calibrate` (the four ways to choose a range, from
scratch). :func:`prepare_static` repeats :func:`troikadl.compress.deploy.torch_static_int8`'s steps up to,
not including, the conversion; :func:`observers` reads off each observer of a prepared model (its class,
integer range and qparams) or the qparams a converted model keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import as_float_array, check_positive
from ._checks import check_module

__all__ = ["prepare_static", "ObserverInfo", "observers"]


def prepare_static(model: Any, calibration: Any, *, batch_size: int = 256) -> Any:
    """The observed model of :func:`~troikadl.compress.deploy.torch_static_int8`, before conversion.

    The same steps (``prepare_fx`` with ``get_default_qconfig_mapping("x86")`` on a float32 CPU copy, then
    the calibration batches) without ``convert_fx``; ``convert_fx`` of the result is that model.
    """
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    from .deploy import _batch, _float32_copy, _n_features, _quiet

    ref = _float32_copy(model)
    X = _batch(as_float_array(calibration, "calibration", dtype=np.float32), "calibration", _n_features(ref))
    check_positive(batch_size, "batch_size", integer=True)
    with _quiet():
        prepared = prepare_fx(ref, get_default_qconfig_mapping("x86"), example_inputs=(torch.as_tensor(X[:1]),))
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                prepared(torch.as_tensor(X[i:i + batch_size]))
    return prepared


@dataclass
class ObserverInfo:
    """One quantized tensor of a PyTorch static-quantized model: what observed it and the qparams it got.

    ``role`` is "activation" (an observer's input: the model input or a layer's output), "weight", or, in
    a converted model, "input" and "output". ``observer`` is the observer class (None in a converted
    model, which keeps only the qparams). ``lo, hi`` is the range the qparams represent,
    ``scale * (quant_min - zero_point)`` to ``scale * (quant_max - zero_point)`` (per channel: the widest).
    A converted model stores activations as quint8 codes ``[0, 255]`` even where the observer computed the
    scale for ``[0, 127]`` (``reduce_range``), so its "input" and "output" ranges are about twice as wide.
    """

    name: str
    role: str
    observer: str | None
    dtype: str
    qscheme: str
    quant_min: int
    quant_max: int
    reduce_range: bool | None
    scale: np.ndarray
    zero_point: np.ndarray
    lo: float
    hi: float


def _info(name: str, role: str, observer: Any, dtype: Any, qscheme: Any, qmin: int, qmax: int,
          reduce_range: Any, scale: Any, zero: Any) -> ObserverInfo:
    s, z = np.asarray(scale, dtype=np.float64).reshape(-1), np.asarray(zero, dtype=np.int64).reshape(-1)
    return ObserverInfo(name, role, observer, str(dtype), str(qscheme), int(qmin), int(qmax), reduce_range, s, z,
                        float(np.min(s * (qmin - z))), float(np.max(s * (qmax - z))))


def observers(model: Any) -> list[ObserverInfo]:
    """What PyTorch's static quantization used: one :class:`ObserverInfo` per quantized tensor, in order.

    ``model`` is an FX model prepared and calibrated (:func:`prepare_static`: each activation observer,
    with its class, quantized range (``reduce_range`` halves it to ``[0, 127]``) and the qparams it
    computes; then each layer's weight observer, built from the layer's qconfig and run on its weight), or
    converted (``convert_fx``, :func:`~troikadl.compress.deploy.torch_static_int8`: the input's and each
    quantized layer's output qparams and its weights' per-channel scales).
    """
    import torch
    from torch.ao.quantization.observer import ObserverBase

    check_module(model)
    found: list[ObserverInfo] = []
    for name, m in model.named_modules():
        if isinstance(m, ObserverBase) and hasattr(m, "calculate_qparams"):
            s, z = m.calculate_qparams()
            found.append(_info(name, "activation", type(m).__name__, m.dtype, m.qscheme, m.quant_min, m.quant_max,
                               getattr(m, "reduce_range", None), s, z))
    for name, m in model.named_modules():
        qconfig, weight = getattr(m, "qconfig", None), getattr(m, "weight", None)
        if qconfig is not None and isinstance(weight, torch.nn.Parameter):
            obs = qconfig.weight()
            obs(weight.detach().float().cpu())
            s, z = obs.calculate_qparams()
            found.append(_info(name, "weight", type(obs).__name__, obs.dtype, obs.qscheme, obs.quant_min,
                               obs.quant_max, getattr(obs, "reduce_range", None), s, z))
    for name, buf in model.named_buffers():
        if name.endswith("_input_scale_0"):
            zero = getattr(model, name.replace("_input_scale_0", "_input_zero_point_0"))
            found.append(_info(name[:-len("_input_scale_0")], "input", None, torch.quint8,
                               torch.per_tensor_affine, 0, 255, None, buf, zero))
    for name, m in model.named_modules():
        if hasattr(m, "_packed_params") and hasattr(m, "scale") and hasattr(m, "zero_point"):
            w = m.weight()
            found.append(_info(name, "output", None, torch.quint8, torch.per_tensor_affine, 0, 255, None, m.scale,
                               m.zero_point))
            per_channel = w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
            ws, wz = (w.q_per_channel_scales(), w.q_per_channel_zero_points()) if per_channel else (w.q_scale(),
                                                                                                    w.q_zero_point())
            found.append(_info(name, "weight", None, w.dtype, w.qscheme(), -128, 127, None, ws, wz))
    if not found:
        raise ValueError("model has no observers or quantized layers: pass a model from prepare_static, "
                         "convert_fx or deploy.torch_static_int8")
    return found
