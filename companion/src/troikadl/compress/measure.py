"""Measuring what compression buys: bytes on disk and CPU latency.

Taught in chapter 9 and used again in chapter 10. Sizes are the bytes ``torch.save`` writes (what a
checkpoint costs), optionally gzip-compressed; latency is the median wall time of many repeats after a
warm-up, on the CPU, in one thread unless told otherwise.
"""

from __future__ import annotations

import gzip
import io
import statistics
import time
from typing import Any, Callable

from ..validate import check_positive

__all__ = ["saved_bytes", "sparse_state_dict", "latency"]


def saved_bytes(obj: Any, *, compress: bool = False) -> int:
    """The size of ``torch.save(obj)`` (a model's ``state_dict()``, say) in bytes; gzip level 9 if ``compress``."""
    import torch

    if hasattr(obj, "state_dict") and hasattr(obj, "parameters"):
        obj = obj.state_dict()
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    return len(gzip.compress(data, compresslevel=9, mtime=0)) if compress else len(data)


def sparse_state_dict(model: Any, *, layout: str = "csr") -> dict[str, Any]:
    """The model's state dict with every 2-D weight stored sparse (``"csr"`` or ``"coo"``).

    In memory a CSR matrix holds each kept float32 value with an int64 column index (12 bytes), but
    ``torch.save`` writes about 20 bytes per kept value (two int64 indices, as COO does), so the file is
    smaller than the dense one only beyond about 80% sparsity. Chapter 9 measures it.
    """
    if layout not in ("csr", "coo"):
        raise ValueError(f"layout must be 'csr' or 'coo', got {layout!r}")
    import warnings

    out = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for k, v in model.state_dict().items():
            v = v.detach().cpu()
            out[k] = (v.to_sparse_csr() if layout == "csr" else v.to_sparse()) if v.ndim == 2 else v
    return out


def latency(fn: Callable[[], Any], *, repeats: int = 50, warmup: int = 5, threads: int | None = 1) -> float:
    """The median wall time of ``fn()`` in seconds, over ``repeats`` calls after ``warmup`` calls.

    ``threads`` sets torch's intra-op threads for the measurement (and restores them); 1 by default, so
    that timings do not depend on what else runs on the machine's other cores.
    """
    import torch

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
    return statistics.median(times)
