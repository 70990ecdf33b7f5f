"""Deployment formats: PyTorch int8 (dynamic, static), ONNX with ONNX Runtime, and TensorFlow Lite.

Taught in chapter 10. Each converter returns something callable on a NumPy batch (float32 in, logits out),
so that accuracy, size and latency are measured the same way for every format. TensorFlow, ONNX and ONNX
Runtime are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..validate import as_float_array, check_int, check_positive
from ._checks import check_module

__all__ = ["torch_dynamic_int8", "torch_static_int8", "export_onnx", "OnnxModel", "onnx_dynamic_int8",
           "tflite_convert", "TFLiteModel", "file_bytes"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converters' chatter (progress lines, deprecation notices) on stdout, stderr and logging."""
    import warnings

    import sys

    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript", "root", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]  # C++ libraries (TFLite, XNNPACK) write to the file descriptors directly
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _float32_copy(model: Any) -> Any:
    """A CPU copy of ``model`` in eval mode (the caller's model is not moved), checked to be float32."""
    import copy

    import torch

    check_module(model)
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes - {torch.float32}:
        raise TypeError(f"model must have float32 parameters (the converters start from float32), got "
                        f"{sorted(str(d) for d in dtypes)}")
    return copy.deepcopy(model).cpu().eval()


def _batch(X: Any, name: str, n_features: int | None = None) -> np.ndarray:
    """``X`` as a C-contiguous float32 (batch, features) array of finite numbers, checked.

    Cheaper than :func:`troikadl.validate.as_float_array` (no float64 copy): it runs inside timed calls.
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # a torch tensor
        X = X.detach().cpu().numpy()
    a = np.asarray(X)  # None and ragged lists become object arrays, refused below
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise TypeError(f"{name} must hold real numbers (float32 is used), got dtype {a.dtype}")
    x = np.ascontiguousarray(a, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty (batch, features) array, got shape {x.shape}")
    if n_features is not None and n_features > 0 and x.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (features), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return x


def _path(path: Any, name: str, *, exists: bool = False) -> Path:
    """``path`` as a ``Path``, checked to be a str or ``os.PathLike`` (and to name an existing file)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}")
    p = Path(path)
    if exists and not p.is_file():
        raise ValueError(f"{name} must name an existing file, got {str(p)!r}")
    return p


def _n_features(model: Any) -> int | None:
    """The input size of a model's first ``nn.Linear`` (None if it has none)."""
    from torch import nn

    first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    return None if first is None else int(first.in_features)


def file_bytes(path: str | os.PathLike[str]) -> int:
    """The size of a saved model: the file, plus its external-data file if it has one."""
    p = _path(path, "path", exists=True)
    extra = p.with_name(p.name + ".data")
    return p.stat().st_size + (extra.stat().st_size if extra.exists() else 0)


def torch_dynamic_int8(model: Any) -> Any:
    """``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear``: int8 weights, activations quantized
    on the fly from each batch's range (no calibration). CPU only; ``model`` (float32) is left as it is."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    ref = _float32_copy(model)
    with _quiet():
        return quantize_dynamic(ref, {torch.nn.Linear}, dtype=torch.qint8)


def torch_static_int8(model: Any, calibration: Any, *, batch_size: int = 256) -> Any:
    """Static int8 with FX graph mode (x86 backend): activation ranges are calibrated beforehand on
    ``calibration`` (finite inputs only; labels are not needed), then fixed. CPU only; ``model``
    (float32) is left as it is."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    ref = _float32_copy(model)
    X = as_float_array(calibration, "calibration", dtype=np.float32)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"calibration must be a non-empty (batch, features) array of inputs, got shape {X.shape}")
    X = _batch(X, "calibration", _n_features(ref))
    check_positive(batch_size, "batch_size", integer=True)
    example = torch.as_tensor(X[:1], dtype=torch.float32)
    with _quiet():
        prepared = prepare_fx(ref, get_default_qconfig_mapping("x86"),
                              example_inputs=(example,))
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                prepared(torch.as_tensor(X[i:i + batch_size], dtype=torch.float32))
        return convert_fx(prepared)


def export_onnx(model: Any, path: str | os.PathLike[str], n_features: int) -> Path:
    """Export a PyTorch model taking (batch, n_features) float32 inputs to one ONNX file (dynamic batch).

    Uses the ``torch.export``-based exporter (``dynamo=True``), which needs the ``onnx`` and
    ``onnxscript`` packages; the weights are stored inside the file. ``model`` (float32) is left as it is.
    """
    import torch

    check_int(n_features, "n_features", min=1)
    path = _path(path, "path")
    example = torch.zeros(2, n_features)
    ref = _float32_copy(model)
    with _quiet():
        torch.onnx.export(ref, (example,), str(path), dynamo=True, external_data=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    return path


class OnnxModel:
    """An ONNX file run by ONNX Runtime on the CPU: ``OnnxModel(path)(X)`` returns the logits."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 1):
        import onnxruntime as ort

        check_positive(threads, "threads", integer=True)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.path = _path(path, "path", exists=True)
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self.input = first.name
        self._n_features = first.shape[-1] if isinstance(first.shape[-1], int) else None

    def __call__(self, X: Any) -> np.ndarray:
        return self.session.run(None, {self.input: _batch(X, "X", self._n_features)})[0]

    @property
    def bytes(self) -> int:
        return file_bytes(self.path)


def onnx_dynamic_int8(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """ONNX Runtime's own dynamic quantization of an ONNX file: int8 weights, activations per batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = _path(src, "src", exists=True), _path(dst, "dst")
    with _quiet():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return Path(dst)


def tflite_convert(keras_model: Any, representative: Any = None, *, batch_size: int = 32) -> bytes:
    """Convert a Keras model to a TensorFlow Lite flatbuffer (bytes).

    Without ``representative`` the model stays float32. With it (a non-empty array of typical inputs),
    the conversion is **full integer**: int8 weights and activations, int8 input and output tensors, and
    only int8 builtin ops (the conversion fails rather than fall back to float).
    """
    from ..runtime import import_tf

    tf = import_tf()
    if not (callable(getattr(keras_model, "call", None)) and hasattr(keras_model, "inputs")):
        raise TypeError(f"keras_model must be a Keras model, got {type(keras_model).__name__}")
    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if representative is not None:
        R = as_float_array(representative, "representative", dtype=np.float32)
        if R.ndim != 2 or len(R) == 0:
            raise ValueError(f"representative must be a non-empty (batch, features) array of inputs, got shape {R.shape}")
        n_in = keras_model.inputs[0].shape[-1] if keras_model.inputs else None
        R = _batch(R, "representative", int(n_in) if n_in is not None else None)
        check_positive(batch_size, "batch_size", integer=True)

        def batches() -> Iterator[list[np.ndarray]]:
            for i in range(0, len(R), batch_size):
                yield [R[i:i + batch_size]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = batches
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with _quiet():
        return conv.convert()


class TFLiteModel:
    """A TensorFlow Lite model run by LiteRT (``ai_edge_litert``, else ``tf.lite``): ``model(X)`` -> logits.

    For an int8 model the float inputs are quantized with the input tensor's scale and zero point, and
    the int8 outputs dequantized, so that it is called exactly like the float one.
    """

    def __init__(self, flatbuffer: bytes, *, threads: int = 1):
        check_positive(threads, "threads", integer=True)
        if not isinstance(flatbuffer, (bytes, bytearray)) or not flatbuffer:
            raise TypeError("flatbuffer must be the non-empty bytes returned by tflite_convert")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - older set-ups: TensorFlow's own (deprecated) interpreter
            from ..runtime import import_tf

            Interpreter = import_tf().lite.Interpreter
        with _quiet():
            self.interpreter = Interpreter(model_content=bytes(flatbuffer), num_threads=threads)
        self.bytes = len(flatbuffer)
        self._batch = -1
        self._n_features = int(self.interpreter.get_input_details()[0]["shape"][-1])

    def _resize(self, n: int) -> None:
        if n != self._batch:
            inp = self.interpreter.get_input_details()[0]
            with _quiet():  # the XNNPACK delegate announces itself on stderr
                self.interpreter.resize_tensor_input(inp["index"], [n, *inp["shape"][1:]])
                self.interpreter.allocate_tensors()
            self._in, self._out = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
            self._batch = n

    def __call__(self, X: Any) -> np.ndarray:
        x = _batch(X, "X", self._n_features)
        self._resize(len(x))
        if self._in["dtype"] == np.int8:
            s, z = self._in["quantization"]
            x = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._out["index"])
        if self._out["dtype"] == np.int8:
            s, z = self._out["quantization"]
            out = (out.astype(np.float32) - z) * s
        return out
