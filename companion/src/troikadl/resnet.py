"""Residual connections: the residual block, a small ResNet, and deep plain CNNs to compare them with.

Taught in chapter 4 ("Convolutional networks", sections on batch normalization and residual connections).
A residual block computes ``relu(F(x) + shortcut(x))`` with ``F`` = conv-BN-ReLU-conv-BN (He et al., 2016);
the shortcut is the identity, or a 1×1 convolution with batch normalization ("projection") when the
number of channels or the stride changes. :class:`ResNet` stacks such blocks for 8×8 digits and ends in
global average pooling and one linear layer. :func:`deep_cnn` builds the plain or residual stacks of the
chapter's measurements. The batch normalization is the course's own :class:`troikadl.normalization.BatchNorm2d`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .normalization import BatchNorm2d
from .validate import as_labels, as_tensor, check_bool, check_float_tensor, check_int, check_int_list

__all__ = ["ResidualBlock", "ResNet", "deep_cnn", "gradient_norms"]


class ResidualBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` on (N, C, H, W) images.

    Taught in chapter 4. Both convolutions are 3×3 with padding 1 and no bias (batch normalization's shift
    replaces it); the first has stride ``stride``. The shortcut is the identity when ``out_channels ==
    channels`` and ``stride == 1``, else (or with ``projection=True``) a 1×1 convolution with that stride
    followed by batch normalization. ``batch_norm=False`` drops every normalization (then the convolutions
    get biases).
    """

    def __init__(self, channels: int, out_channels: int | None = None, *, stride: int = 1, projection: bool = False,
                 batch_norm: bool = True) -> None:
        super().__init__()
        channels = check_int(channels, "channels", min=1)
        out_channels = channels if out_channels is None else check_int(out_channels, "out_channels", min=1)
        stride = check_int(stride, "stride", min=1)
        check_bool(projection, "projection")
        self.batch_norm = check_bool(batch_norm, "batch_norm")

        def norm(c: int) -> nn.Module:
            return BatchNorm2d(c) if batch_norm else nn.Identity()

        self.conv1 = nn.Conv2d(channels, out_channels, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn2 = norm(out_channels)
        self.in_channels, self.out_channels = channels, out_channels
        if projection or stride != 1 or out_channels != channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(channels, out_channels, 1, stride=stride, bias=not batch_norm), norm(out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Any) -> Any:
        """The block's output, ``relu(F(x) + shortcut(x))``."""
        check_float_tensor(x, "x", ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels (N, C, H, W), got shape {tuple(x.shape)}")
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet for 8×8 images: a 3×3 stem, residual stages, global average pooling, a linear head.

    Taught in chapter 4. ``widths`` gives each stage's channels (the first stage keeps the 8×8 size, each
    later stage halves it with a strided block and a projection shortcut); ``blocks`` residual blocks per
    stage. The head reads only one average per channel, so its size does not depend on the image size.
    """

    def __init__(self, widths: Sequence[int] = (16, 32), *, blocks: int = 1, in_channels: int = 1,
                 classes: int = 10) -> None:
        super().__init__()
        widths = check_int_list(widths, "widths", min=1, min_length=1, example="(16, 32)")
        blocks = check_int(blocks, "blocks", min=1)
        in_channels = check_int(in_channels, "in_channels", min=1)
        classes = check_int(classes, "classes", min=1)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  BatchNorm2d(widths[0]), nn.ReLU())
        layers, c = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(ResidualBlock(c, w, stride=2 if (i > 0 and b == 0) else 1))
                c = w
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)               # global average pooling: one value per channel
        self.head = nn.Linear(c, classes)

    def forward(self, x: Any) -> Any:
        """Class scores (N, classes) for images (N, in_channels, H, W)."""
        check_float_tensor(x, "x", ndim=4)
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))


class _Plain(nn.Module):
    """conv-(BN)-ReLU, the plain counterpart of one conv layer of a residual stack."""

    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm)
        self.bn = BatchNorm2d(channels) if batch_norm else nn.Identity()

    def forward(self, x: Any) -> Any:
        return torch.relu(self.bn(self.conv(x)))


def deep_cnn(depth: int, channels: int = 16, *, batch_norm: bool = False, residual: bool = False,
             in_channels: int = 1, classes: int = 10) -> nn.Sequential:
    """A stack of ``depth`` 3×3 convolutions of ``channels`` channels (8×8 kept), global average pooling, a head.

    Taught in chapter 4. ``depth`` counts the convolutions after the stem convolution (so the network has
    ``depth + 2`` weight layers with the head); with ``residual=True``, ``depth`` must be even and the
    convolutions are paired into ``depth // 2`` :class:`ResidualBlock` s; else each is conv-(BN)-ReLU.
    ``batch_norm`` switches batch normalization on everywhere. The plain and residual versions of one depth
    have the same convolutions, so the same number of weights (the residual one adds nothing but the sums).
    """
    depth = check_int(depth, "depth", min=1)
    channels = check_int(channels, "channels", min=1)
    check_bool(batch_norm, "batch_norm")
    check_bool(residual, "residual")
    in_channels = check_int(in_channels, "in_channels", min=1)
    classes = check_int(classes, "classes", min=1)
    if residual and depth % 2:
        raise ValueError(f"depth must be even with residual=True (two convolutions per block), got {depth}")
    stem = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=not batch_norm)]
    stem += [BatchNorm2d(channels)] if batch_norm else []
    body: list[nn.Module] = ([ResidualBlock(channels, batch_norm=batch_norm) for _ in range(depth // 2)] if residual
                             else [_Plain(channels, batch_norm) for _ in range(depth)])
    return nn.Sequential(*stem, nn.ReLU(), *body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


def gradient_norms(model: nn.Module, X: Any, y: Any) -> list[float]:
    """The gradient norm of the cross-entropy loss w.r.t. each convolution's weight, in order, on ``(X, y)``.

    Taught in chapter 4: at initialization, the gradients reaching the first layers of a deep plain stack
    are far smaller than those of the last ones; a residual stack keeps them comparable. The model is put in
    training mode and its gradients are reset to ``None`` afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    X = as_tensor(X, "X", ndim=4, nonempty=True)
    y = torch.as_tensor(as_labels(y, "y", n=len(X)))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    model.train()
    model.zero_grad(set_to_none=True)
    param = next(model.parameters())
    loss = nn.functional.cross_entropy(model(X.to(param.dtype).to(param.device)), y.to(param.device))
    loss.backward()
    norms = [float(c.weight.grad.norm()) for c in convs]
    model.zero_grad(set_to_none=True)
    return norms
