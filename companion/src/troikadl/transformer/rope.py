"""Rotary position embeddings (RoPE), from scratch, in the rotate-half convention of GPT-NeoX and Llama (chapter 6).

Instead of adding a position vector to the token embedding, RoPE rotates each query and key: the ``d_head``
dimensions are split into ``d_head / 2`` pairs, and pair ``i`` of the vector at position ``m`` is turned by
the angle ``m * theta_i`` with ``theta_i = base ** (-2 i / d_head)`` (fast rotations in the first pairs, slow
ones in the last). A rotation keeps lengths, and the dot product of a query rotated by ``m theta`` with a key
rotated by ``n theta`` depends only on ``m - n``: attention scores see relative positions. In the rotate-half
convention pair ``i`` is dimensions ``(i, i + d_head / 2)`` (the original paper pairs neighbours ``(2i, 2i+1)``;
the two differ by a fixed permutation of the dimensions). Checked equal to Hugging Face's Llama implementation.
"""

from __future__ import annotations

from typing import Any

import torch

from ..validate import check_float, check_float_tensor, check_int

__all__ = ["rope_angles", "apply_rope"]


def _positions(positions: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(positions, torch.Tensor):
        if positions.is_complex() or positions.dtype == torch.bool:
            raise TypeError(f"positions must hold real numbers (token positions), got dtype {positions.dtype}")
        pos = positions
    else:
        try:
            pos = torch.as_tensor(positions)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"positions must be a sequence or tensor of token positions, got "
                            f"{positions!r:.60}") from err
        if pos.is_complex() or pos.dtype == torch.bool:
            raise TypeError(f"positions must hold real numbers (token positions), got dtype {pos.dtype}")
    if pos.ndim < 1:
        raise ValueError(f"positions must have at least one dimension (length,), got shape {tuple(pos.shape)}")
    if pos.is_floating_point() and not bool(torch.isfinite(pos).all()):
        raise ValueError("positions must be finite")
    return pos.to(device=device, dtype=dtype)


def rope_angles(positions: Any, d_head: int, *, base: float = 10000.0,
                dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of the rotation angles, each of shape (*positions.shape, d_head) (chapter 6).

    The angle of pair ``i`` at position ``m`` is ``m * base ** (-2 i / d_head)``; each angle appears twice,
    at dimensions ``i`` and ``i + d_head / 2`` (rotate-half layout), so ``cos`` and ``sin`` multiply ``x``
    elementwise. Computed in ``dtype``.
    """
    d_head = check_int(d_head, "d_head", min=2)
    if d_head % 2:
        raise ValueError(f"d_head must be even (dimensions are rotated in pairs), got {d_head}")
    base = check_float(base, "base", min=1.0, min_open=True)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    pos = _positions(positions, dtype, torch.device("cpu") if not isinstance(positions, torch.Tensor)
                     else positions.device)
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=dtype, device=pos.device) / d_head)
    angles = pos[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last axis: a quarter turn of every pair."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: Any, positions: Any, *, base: float = 10000.0) -> torch.Tensor:
    """``x`` (…, length, d_head) with the vector at each position rotated by its RoPE angles (chapter 6).

    ``positions`` holds one position per row of ``x`` (shape (length,), or broadcastable to ``x.shape[:-1]``,
    e.g. (batch, 1, length) for per-sequence offsets); ``d_head`` must be even. Pair ``i`` (dimensions ``i`` and
    ``i + d_head / 2``) at position ``m`` becomes ``(a cos - b sin, a sin + b cos)`` with angle ``m theta_i``.
    The result has ``x``'s dtype; the angles are computed in ``x``'s dtype.
    """
    check_float_tensor(x, "x")
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (..., length, d_head) with d_head even (pairs are rotated), got "
                         f"{tuple(x.shape)}")
    pos = _positions(positions, x.dtype, x.device)
    if pos.shape[-1] != x.shape[-2]:
        raise ValueError(f"positions must give one position per row of x: x has length {x.shape[-2]}, "
                         f"positions has shape {tuple(pos.shape)}")
    try:
        torch.broadcast_shapes(pos.shape, x.shape[:-1])
    except RuntimeError as err:
        raise ValueError(f"positions of shape {tuple(pos.shape)} do not broadcast to x's "
                         f"{tuple(x.shape[:-1])}") from err
    cos, sin = rope_angles(pos, x.shape[-1], base=base, dtype=x.dtype)
    return x * cos + rotate_half(x) * sin
