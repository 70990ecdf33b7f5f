"""Data augmentation for small images: random shifts and rotations, in pure PyTorch.

Taught in chapter 4 ("Convolutional networks", data augmentation). Each function transforms a batch of
images (N, C, H, W) with a different random transform per image, drawn from ``generator`` (a
``torch.Generator``; ``None`` uses torch's global one), and keeps the labels: a digit shifted by one pixel
or rotated by a few degrees is the same digit. Pixels that come from outside the image are filled with
``fill`` (the background value: after the digits' standardization, the value of a blank pixel).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ..validate import check_float, check_float_tensor, check_instance, check_int

__all__ = ["random_shift", "random_rotation"]


def _generator(generator: Any) -> Any:
    if generator is not None:
        check_instance(generator, "generator", torch.Generator, "a torch.Generator or None")
    return generator


def random_shift(x: Any, max_shift: int = 1, *, fill: float = 0.0, generator: Any = None) -> Any:
    """Shift each image by whole pixels, independently up to ``max_shift`` along each axis (uniform).

    Taught in chapter 4. Returns a new tensor of ``x``'s shape, dtype and device; the pixels shifted in
    from outside are ``fill``. ``max_shift=0`` returns a copy of ``x``.
    """
    check_float_tensor(x, "x", ndim=4)
    n, _, h, w = x.shape
    max_shift = check_int(max_shift, "max_shift", min=0, max=min(h, w) - 1 if min(h, w) > 0 else 0)
    fill = check_float(fill, "fill")
    g = _generator(generator)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=g)
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=fill)
    out = torch.empty_like(x)
    for i, (dy, dx) in enumerate(shifts.tolist()):      # output pixel (r, c) reads input (r - dy, c - dx)
        out[i] = padded[i, :, p - dy:p - dy + h, p - dx:p - dx + w]
    return out


def random_rotation(x: Any, max_degrees: float = 10.0, *, fill: float = 0.0, generator: Any = None) -> Any:
    """Rotate each image about its centre by an angle drawn uniformly from [-max_degrees, max_degrees].

    Taught in chapter 4. Bilinear interpolation (``F.grid_sample``); points that fall outside the image
    read ``fill``. Returns a new tensor of ``x``'s shape, dtype and device.
    """
    check_float_tensor(x, "x", ndim=4)
    max_degrees = check_float(max_degrees, "max_degrees", min=0.0, max=180.0)
    fill = check_float(fill, "fill")
    g = _generator(generator)
    n = x.shape[0]
    angles = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * math.radians(max_degrees)
    cos, sin = torch.cos(angles), torch.sin(angles)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta.to(x.dtype).to(x.device), list(x.shape), align_corners=False)
    # grid_sample pads with zeros: sample x - fill and add fill back, so that outside reads ``fill``
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
