"""Low-rank factorization of dense layers by truncated SVD.

Taught in chapter 9. A weight matrix ``W`` (out x in) is replaced by ``A @ B`` with ``A`` (out x r) and
``B`` (r x in): one ``nn.Linear`` becomes two, with ``r (in + out)`` weights instead of ``in * out``.
The truncated SVD gives the best such approximation in the Frobenius and spectral norms
(Eckart and Young, 1936); its Frobenius error is the root of the sum of the discarded squared
singular values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_bool, check_float_tensor, check_instance, check_int

__all__ = ["truncated_svd", "low_rank_linear", "factorize_mlp", "break_even_rank"]


def _check_rank(rank: Any, shape: tuple[int, int], name: str = "rank") -> int:
    check_int(rank, name)
    limit = min(shape)
    if not 1 <= rank <= limit:
        raise ValueError(f"{name} must be between 1 and min{tuple(shape)} = {limit} for a {shape[0]}x{shape[1]} "
                         f"matrix, got {rank}")
    return int(rank)


def truncated_svd(W: Any, rank: int) -> tuple[Any, Any]:
    """``(A, B)`` with ``A @ B`` the best rank-``rank`` approximation of ``W`` (2-D torch tensor or array).

    ``A = U[:, :r] * S[:r]`` and ``B = Vh[:r]``. Returns torch tensors of ``W``'s dtype, on its device,
    for a torch input; NumPy arrays otherwise (float32 stays float32; other inputs become float64).
    """
    import torch

    if isinstance(W, torch.Tensor):
        T = check_float_tensor(W, "W", ndim=2).detach()
    else:
        dtype = np.float32 if getattr(W, "dtype", None) == np.float32 else np.float64
        T = torch.from_numpy(as_float_array(W, "W", ndim=2, dtype=dtype).copy())
    if T.numel() == 0:
        raise ValueError(f"W must have at least one row and one column, got shape {tuple(T.shape)}")
    r = _check_rank(rank, tuple(T.shape))
    U, S, Vh = torch.linalg.svd(T, full_matrices=False)
    A, B = U[:, :r] * S[:r], Vh[:r].clone()
    return (A, B) if isinstance(W, torch.Tensor) else (A.numpy(), B.numpy())


def break_even_rank(n_out: int, n_in: int) -> int:
    """The largest rank at which the factorization stores fewer weights than the full matrix."""
    check_int(n_out, "n_out", min=1)
    check_int(n_in, "n_in", min=1)
    return max(0, (n_out * n_in - 1) // (n_out + n_in))


def low_rank_linear(layer: Any, rank: int) -> Any:
    """Replace an ``nn.Linear`` by ``nn.Sequential(Linear(in, r, bias=False), Linear(r, out))`` via SVD.

    The two new layers have the layer's dtype and device.
    """
    import torch
    from torch import nn

    check_instance(layer, "layer", nn.Linear, "an nn.Linear")
    W = layer.weight.detach()
    A, B = truncated_svd(W, _check_rank(rank, tuple(W.shape)))
    like = {"dtype": W.dtype, "device": W.device}
    first = nn.Linear(W.shape[1], A.shape[1], bias=False, **like)
    second = nn.Linear(A.shape[1], W.shape[0], bias=layer.bias is not None, **like)
    with torch.no_grad():
        first.weight.copy_(B)
        second.weight.copy_(A)
        if layer.bias is not None:
            second.bias.copy_(layer.bias.detach())
    return nn.Sequential(first, second)


def factorize_mlp(model: Any, rank: int, *, keep_last: bool = True) -> Any:
    """A copy of an ``nn.Sequential`` MLP with each ``nn.Linear`` factorized at ``rank``.

    The last (classifier) layer is kept as it is unless ``keep_last=False``; a layer whose smaller side
    is at most ``rank`` is kept too (factorizing it could only add weights).
    """
    import copy

    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    check_int(rank, "rank", min=1)
    check_bool(keep_last, "keep_last")
    new = copy.deepcopy(model)
    linear_idx = [i for i, m in enumerate(new) if isinstance(m, nn.Linear)]
    for i in linear_idx[:-1] if keep_last else linear_idx:
        if min(new[i].weight.shape) > rank:
            new[i] = low_rank_linear(new[i], int(rank))
    return new
