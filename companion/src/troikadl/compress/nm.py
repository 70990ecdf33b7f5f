"""N:M fine-grained structured sparsity: in every group of M consecutive weights, at most N are nonzero.

Taught in chapter 9. The 2:4 pattern (two of every four weights kept, 50% sparsity) is the one NVIDIA's
sparse tensor cores (since the Ampere generation) multiply at twice the dense math throughput: the matrix
is stored as its kept values plus a 2-bit index per kept value saying where in its group of four it sits
(Mishra et al., 2021, "Accelerating Sparse Deep Neural Networks", arXiv 2104.08378). Zhou et al. (2021,
"Learning N:M Fine-grained Structured Sparse Neural Networks From Scratch", arXiv 2102.04010) train such
networks. Groups run along the input dimension: contiguous groups of ``m`` along the last dimension of an
``nn.Linear`` weight (each row), and along ``c_in x k_h x k_w`` of a conv weight flattened per filter.
On a CPU, and on GPUs without sparse tensor cores, the pattern saves nothing by itself: a dense kernel
still multiplies the zeros.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..validate import check_float_tensor, check_int, check_positive

__all__ = ["nm_masks", "is_nm_sparse", "nm_compressed_bytes"]


def _check_nm(n: Any, m: Any) -> tuple[int, int]:
    m = check_int(m, "m", min=1)
    n = check_int(n, "n", min=0, max=m)
    return n, m


def _groups(w: Any, m: int, name: str) -> Any:
    """``w`` viewed as ``(rows, cols / m, m)``: rows are output units, groups of ``m`` along the input dimension."""
    if w.ndim < 2 or w.numel() == 0:
        raise ValueError(f"{name} must be a non-empty weight matrix (2-D) or conv weight (3-D or more), got shape "
                         f"{tuple(w.shape)}")
    flat = w.reshape(w.shape[0], -1)
    if flat.shape[1] % m:
        what = "last dimension" if w.ndim == 2 else "input size c_in * k_h * k_w"
        raise ValueError(f"{name}'s {what} ({flat.shape[1]}) must be divisible by m = {m} for {m}-wide groups, "
                         f"got shape {tuple(w.shape)}")
    return flat.reshape(flat.shape[0], flat.shape[1] // m, m)


def nm_masks(weights: Sequence[Any], n: int = 2, m: int = 4) -> list[Any]:
    """For each weight tensor, the boolean mask keeping the ``n`` largest ``|w|`` of every ``m`` consecutive weights.

    Groups are contiguous along the input dimension (see the module docstring); a dimension not divisible
    by ``m`` raises ``ValueError``. Ties are broken by position (the earlier weight stays). Exactly ``n`` of
    every ``m`` entries are True, so the sparsity is ``1 - n / m``. The masks have the weights' shapes and
    devices and go straight into :func:`troikadl.compress.prune.apply_masks`.
    """
    import torch

    n, m = _check_nm(n, m)
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ValueError(f"weights must be a non-empty list of weight tensors, got {weights!r:.60}")
    out = []
    for i, w in enumerate(weights):
        g = _groups(check_float_tensor(w, f"weights[{i}]").detach(), m, f"weights[{i}]").abs()
        order = torch.argsort(g, dim=-1, descending=True, stable=True)[..., :n]
        keep = torch.zeros_like(g, dtype=torch.bool)
        keep.scatter_(-1, order, True)
        out.append(keep.reshape(w.shape))
    return out


def is_nm_sparse(weight: Any, n: int = 2, m: int = 4) -> bool:
    """Whether every group of ``m`` consecutive weights (along the input dimension) has at most ``n`` nonzeros."""
    n, m = _check_nm(n, m)
    g = _groups(check_float_tensor(weight, "weight").detach(), m, "weight")
    return bool(((g != 0).sum(dim=-1) <= n).all())


def nm_compressed_bytes(rows: int, cols: int, n: int = 2, m: int = 4, value_bytes: int = 2) -> int:
    """Bytes of a ``rows x cols`` matrix stored in the N:M compressed format: kept values plus position indices.

    ``rows * cols * n / m`` values of ``value_bytes`` each (2 for float16, NVIDIA's usual case), and for each
    kept value its position in its group, ``ceil(log2 m)`` bits (2 bits for 2:4), packed and rounded up to
    whole bytes: ``rows cols n/m (value_bytes + ceil(log2 m) / 8)``. For 2:4 in float16 that is 9/16 of
    the dense matrix's bytes. ``cols`` must be divisible by ``m``.
    """
    for v, name in ((rows, "rows"), (cols, "cols")):
        check_positive(v, name, integer=True)
    n, m = _check_nm(n, m)
    check_positive(value_bytes, "value_bytes", integer=True)
    if cols % m:
        raise ValueError(f"cols ({cols}) must be divisible by m = {m}")
    kept = rows * (cols // m) * n
    index_bits = math.ceil(math.log2(m)) if m > 1 else 0
    return int(kept * value_bytes + math.ceil(kept * index_bits / 8))
