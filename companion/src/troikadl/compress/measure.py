"""Measuring what compression buys: bytes on disk and CPU latency.

Taught in chapter 9 and used again in chapter 10. Sizes are the bytes ``torch.save`` writes (what a
checkpoint costs), optionally gzip-compressed. Sparse weights are stored as real CSR (each kept value, its
column index, and one row pointer per row plus one) or as a bitmask (one bit per weight, then the kept
values), and :func:`csr_bytes` and :func:`bitmask_bytes` give the bytes their buffers take. Latency is
measured over many repeats after a warm-up, on the CPU, in one thread unless told otherwise, and comes
with its spread (:class:`Timing`): a difference smaller than the spread is not a finding.
"""

from __future__ import annotations

import gzip
import io
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..validate import check_callable, check_instance, check_positive
from ._checks import check_module

__all__ = ["saved_bytes", "storage_bytes", "csr_bytes", "bitmask_bytes", "sparse_state_dict",
           "dense_state_dict", "Timing", "latency", "speedup"]

LAYOUTS = ("csr", "bitmask", "coo")


def saved_bytes(obj: Any, *, compress: bool = False) -> int:
    """The size of ``torch.save(obj)`` (a model's ``state_dict()``, say) in bytes; gzip level 9 if ``compress``."""
    import torch

    if hasattr(obj, "state_dict") and hasattr(obj, "parameters"):
        obj = obj.state_dict()
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    return len(gzip.compress(data, compresslevel=9, mtime=0)) if compress else len(data)


def _tensors(obj: Any) -> list[Any]:
    """The dense tensors ``torch.save`` writes for ``obj`` (a sparse tensor is its index and value tensors)."""
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.layout == torch.sparse_csr:
            return [obj.crow_indices(), obj.col_indices(), obj.values()]
        if obj.layout == torch.sparse_coo:
            return [obj._indices(), obj._values()]
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


def storage_bytes(obj: Any) -> int:
    """The bytes of the tensor buffers that ``torch.save(obj)`` writes: each distinct storage, whole.

    ``torch.save`` writes a tensor's entire storage, also when the tensor is a view of part of it;
    the file adds a container (names, pickled structure, alignment) of a few hundred bytes per storage.
    """
    if hasattr(obj, "state_dict") and hasattr(obj, "parameters"):
        obj = obj.state_dict()
    seen: dict[tuple[Any, int], int] = {}
    for t in _tensors(obj):
        s = t.untyped_storage()
        seen[(s.device, s.data_ptr())] = s.nbytes()
    return sum(seen.values())


def csr_bytes(rows: int, nnz: int, *, value_bytes: int = 4, index_bytes: int = 4) -> int:
    """The buffers of a CSR matrix: ``nnz (value_bytes + index_bytes) + (rows + 1) index_bytes``.

    Each kept value is stored with its column index; the row pointers (``rows + 1`` of them) say where
    each row's entries start and end.
    """
    for v, n in ((rows, "rows"), (nnz, "nnz")):
        check_positive(v, n, integer=True, allow_zero=True)
    for v, n in ((value_bytes, "value_bytes"), (index_bytes, "index_bytes")):
        check_positive(v, n, integer=True)
    return int(nnz * (value_bytes + index_bytes) + (rows + 1) * index_bytes)


def bitmask_bytes(rows: int, cols: int, nnz: int, *, value_bytes: int = 4) -> int:
    """The buffers of a bitmask matrix: ``ceil(rows cols / 8)`` bytes of bits, then ``nnz value_bytes``."""
    for v, n in ((rows, "rows"), (cols, "cols"), (nnz, "nnz")):
        check_positive(v, n, integer=True, allow_zero=True)
    check_positive(value_bytes, "value_bytes", integer=True)
    if nnz > rows * cols:
        raise ValueError(f"nnz must be at most rows * cols = {rows * cols}, got {nnz}")
    return int(math.ceil(rows * cols / 8) + nnz * value_bytes)


def _sparse(w: Any, layout: str, index_dtype: Any) -> Any:
    import torch

    if layout == "coo":  # PyTorch's COO: a 2 x nnz int64 index tensor (row and column of every value)
        return w.to_sparse().coalesce()
    keep = w != 0
    if layout == "bitmask":
        bits = np.packbits(keep.flatten().numpy())
        return {"shape": tuple(w.shape), "mask": torch.from_numpy(bits), "values": w[keep].clone()}
    # ``to_sparse_csr`` gives int64 indices whose column indices are a view of a 2 x nnz buffer (the
    # conversion goes through COO), and torch.save writes the whole buffer: clone them, in index_dtype.
    csr = w.to_sparse_csr()
    return torch.sparse_csr_tensor(csr.crow_indices().to(index_dtype).clone(),
                                   csr.col_indices().to(index_dtype).clone(), csr.values().clone(),
                                   tuple(w.shape), check_invariants=True)


def sparse_state_dict(model: Any, *, layout: str = "csr", index_dtype: Any = None) -> dict[str, Any]:
    """The model's state dict (on the CPU) with every 2-D weight stored sparse, as ``layout`` says.

    ``"csr"``: a ``torch.sparse_csr`` tensor with its own index buffers of ``index_dtype`` (int32 by
    default; :func:`csr_bytes`). ``"bitmask"``: a dict with the packed bits (uint8), the kept values in
    row-major order, and the shape (:func:`bitmask_bytes`). ``"coo"``: PyTorch's COO tensor (int64
    row and column indices, ``nnz (value_bytes + 16)`` bytes). Values keep their dtype; other tensors
    (biases) are kept as they are. :func:`dense_state_dict` reads any of them back.
    """
    import torch

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    index_dtype = torch.int32 if index_dtype is None else index_dtype
    if index_dtype not in (torch.int32, torch.int64):
        raise TypeError(f"index_dtype must be torch.int32 or torch.int64, got {index_dtype!r}")
    check_module(model)
    import warnings

    out = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for k, v in model.state_dict().items():
            v = v.detach().cpu()
            out[k] = _sparse(v, layout, index_dtype) if v.ndim == 2 else v
    return out


def dense_state_dict(sparse: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`sparse_state_dict`: every sparse or bitmask entry back as a dense tensor."""
    import torch

    if not isinstance(sparse, dict):
        raise TypeError(f"sparse must be a dict from sparse_state_dict, got {type(sparse).__name__}")
    out = {}
    for k, v in sparse.items():
        if isinstance(v, dict):
            n = math.prod(v["shape"])
            keep = torch.from_numpy(np.unpackbits(v["mask"].numpy(), count=n).astype(bool))
            dense = torch.zeros(n, dtype=v["values"].dtype)
            dense[keep] = v["values"]
            out[k] = dense.view(v["shape"])
        elif isinstance(v, torch.Tensor) and v.layout != torch.strided:
            out[k] = v.to_dense()
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class Timing:
    """The wall times of repeated calls, in seconds: ``median``, quartiles ``q1`` and ``q3``, and ``iqr``."""

    times: tuple[float, ...]

    def _quartiles(self) -> list[float]:
        return statistics.quantiles(self.times, n=4, method="inclusive") if len(self.times) > 1 \
            else [self.times[0]] * 3

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def q1(self) -> float:
        return self._quartiles()[0]

    @property
    def q3(self) -> float:
        return self._quartiles()[2]

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def __str__(self) -> str:
        return f"{self.median * 1e3:.3f} ms (IQR {self.q1 * 1e3:.3f}-{self.q3 * 1e3:.3f})"


def latency(fn: Callable[[], Any], *, repeats: int = 50, warmup: int = 5, threads: int | None = 1) -> Timing:
    """The wall times of ``repeats`` calls of ``fn()`` after ``warmup`` calls, as a :class:`Timing`.

    ``threads`` sets torch's intra-op threads for the measurement (and restores them); 1 by default, so
    that timings depend less on what else runs on the machine's other cores.
    """
    import torch

    check_callable(fn, "fn", "callable (a function of no arguments)")
    check_positive(repeats, "repeats", integer=True)
    check_positive(warmup, "warmup", integer=True, allow_zero=True)
    before = torch.get_num_threads()
    if threads is not None:
        check_positive(threads, "threads", integer=True)
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(before)
    return Timing(tuple(times))


def speedup(slow: Timing, fast: Timing) -> tuple[float, float, float]:
    """How many times faster ``fast`` is than ``slow``: the ratio of medians and a range from the quartiles.

    ``(slow.median / fast.median, slow.q1 / fast.q3, slow.q3 / fast.q1)``. When the low end is above 1
    the interquartile ranges do not overlap, and "faster" is supported by the measurements; a statement
    finer than the range (say "1.3x" against a range of 1.1 to 1.6) is not.
    """
    for t, n in ((slow, "slow"), (fast, "fast")):
        check_instance(t, n, Timing, "a Timing (from latency)")
    return slow.median / fast.median, slow.q1 / fast.q3, slow.q3 / fast.q1
