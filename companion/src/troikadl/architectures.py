"""Channels, receptive fields and the parameter counts of classic CNN blocks, from their configurations (chapter 4).

Every count here is arithmetic on a configuration, never a model's ``numel``: the tests build the same
configurations with ``torch.nn`` (and Keras where there is a counterpart) and check the counts equal.

- :func:`conv_params`, :func:`conv_macs`: one convolution, with ``groups`` (``groups = c_in = c_out`` is a
  depthwise convolution, ``k = 1`` a pointwise one, which mixes channels at each pixel).
- :class:`DepthwiseSeparableConv2d` and :func:`separable_params`: a depthwise then a pointwise convolution
  (MobileNet; Keras's ``SeparableConv2D``).
- :func:`receptive_field`: the size of the input window one output pixel sees, and the jump between the
  windows of neighbouring outputs, for a stack of (kernel, stride, dilation) layers.
- :func:`vgg_params`, :func:`inception_params`, :func:`bottleneck_params`, :func:`mobilenet_block_params`:
  the blocks that introduced these ideas.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch.nn as nn

from .validate import check_bool, check_int, check_int_list

__all__ = ["conv_params", "conv_macs", "separable_params", "separable_macs", "DepthwiseSeparableConv2d",
           "receptive_field", "VGG_CONFIGS", "vgg_params", "inception_params", "bottleneck_params",
           "mobilenet_block_params"]


def _conv_args(c_in: Any, c_out: Any, k: Any, groups: Any) -> tuple[int, int, tuple[int, int], int]:
    c_in, c_out = check_int(c_in, "c_in", min=1), check_int(c_out, "c_out", min=1)
    groups = check_int(groups, "groups", min=1)
    if isinstance(k, (list, tuple)):
        kh, kw = check_int_list(k, "k", min=1, length=2, example="(3, 3)")
    else:
        kh = kw = check_int(k, "k", min=1)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups must divide c_in and c_out, got groups={groups}, c_in={c_in}, c_out={c_out}")
    return c_in, c_out, (kh, kw), groups


def conv_params(c_in: int, c_out: int, k: int | tuple[int, int], groups: int = 1, bias: bool = True) -> int:
    """Parameters of a 2-D convolution: ``(c_in / groups) k_h k_w c_out`` weights, plus ``c_out`` biases.

    Each of the ``c_out`` output channels has one ``k_h x k_w`` kernel per input channel of its group
    (all ``c_in`` channels when ``groups = 1``) and one bias. ``k`` is an int or a pair ``(k_h, k_w)``.
    """
    c_in, c_out, (kh, kw), groups = _conv_args(c_in, c_out, k, groups)
    return (c_in // groups) * kh * kw * c_out + (c_out if check_bool(bias, "bias") else 0)


def _out_size(out_size: Any) -> tuple[int, int]:
    if isinstance(out_size, (list, tuple)):
        h, w = check_int_list(out_size, "out_size", min=1, length=2, example="(8, 8)")
        return h, w
    n = check_int(out_size, "out_size", min=1)
    return n, n


def conv_macs(c_in: int, c_out: int, k: int | tuple[int, int], out_size: int | tuple[int, int], groups: int = 1) -> int:
    """Multiply-adds of a 2-D convolution for one image: each output value costs ``(c_in / groups) k_h k_w``.

    ``out_size`` is the output's ``(height, width)`` (or one int for a square map); biases are not counted.
    """
    c_in, c_out, (kh, kw), groups = _conv_args(c_in, c_out, k, groups)
    h, w = _out_size(out_size)
    return h * w * c_out * (c_in // groups) * kh * kw


def separable_params(c_in: int, c_out: int, k: int | tuple[int, int], bias: bool = True) -> int:
    """Parameters of a depthwise-separable convolution, laid out as Keras's ``SeparableConv2D``.

    A depthwise ``k x k`` convolution (one kernel per input channel, no bias), then a pointwise ``1 x 1``
    convolution from ``c_in`` to ``c_out`` channels (with ``c_out`` biases if ``bias``).
    """
    return conv_params(c_in, c_in, k, groups=c_in, bias=False) + conv_params(c_in, c_out, 1, bias=bias)


def separable_macs(c_in: int, c_out: int, k: int | tuple[int, int], out_size: int | tuple[int, int]) -> int:
    """Multiply-adds of a depthwise-separable convolution (stride 1 in the depthwise step): depthwise plus pointwise."""
    return conv_macs(c_in, c_in, k, out_size, groups=c_in) + conv_macs(c_in, c_out, 1, out_size)


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise ``k x k`` convolution (``groups = c_in``, no bias) then a pointwise ``1 x 1`` one (chapter 4).

    Computes what Keras's ``SeparableConv2D(c_out, k, depth_multiplier=1)`` computes and has
    :func:`separable_params` parameters. ``stride``, ``padding`` and ``dilation`` apply to the depthwise step.
    """

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        c_in, c_out, _, _ = _conv_args(c_in, c_out, k, 1)
        stride, dilation = check_int(stride, "stride", min=1), check_int(dilation, "dilation", min=1)
        padding = check_int(padding, "padding", min=0)
        self.depthwise = nn.Conv2d(c_in, c_in, k, stride=stride, padding=padding, dilation=dilation,
                                   groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=check_bool(bias, "bias"))

    def forward(self, x: Any) -> Any:
        return self.pointwise(self.depthwise(x))


def receptive_field(layers: Sequence[Sequence[int]]) -> tuple[int, int]:
    """Receptive field ``(size, jump)`` of one output pixel of a stack of layers, along one axis.

    ``layers`` lists ``(kernel, stride, dilation)`` per layer, input first (a pooling is a layer too;
    a pair ``(kernel, stride)`` means dilation 1). A layer of span ``d (k - 1) + 1`` widens the field by
    ``d (k - 1)`` steps of the current jump, then multiplies the jump by its stride:
    ``r <- r + d (k - 1) j``, ``j <- j s``, from ``r = j = 1``. ``jump`` is the distance, in input pixels,
    between the fields of two neighbouring outputs. Padding does not change the size.
    """
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers must be a list of (kernel, stride, dilation) tuples, got {type(layers).__name__}")
    size, jump = 1, 1
    for i, layer in enumerate(layers):
        if isinstance(layer, (list, tuple)) and len(layer) == 2:
            layer = (*layer, 1)
        k, s, d = check_int_list(layer, f"layers[{i}]", min=1, length=3, example="(3, 1, 1)")
        size += d * (k - 1) * jump
        jump *= s
    return size, jump


#: VGG configurations (Simonyan and Zisserman, 2015, table 1): the output channels of each 3x3 convolution,
#: "M" a 2x2 max pooling.
VGG_CONFIGS: dict[str, list[Any]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def vgg_params(config: str | Sequence[Any] = "vgg16", in_channels: int = 3, image_size: int = 224,
               hidden: int = 4096, n_classes: int = 1000) -> int:
    """Parameters of a VGG network: 3x3 convolutions with biases ("same" padding), 2x2 poolings ("M"), then
    three dense layers (``hidden``, ``hidden``, ``n_classes``) on the flattened last map.

    ``config`` is a name in :data:`VGG_CONFIGS` or such a list. VGG-16 on 224x224 RGB images has 138,357,544.
    """
    if isinstance(config, str):
        if config not in VGG_CONFIGS:
            raise ValueError(f"config must be one of {sorted(VGG_CONFIGS)} or a list, got {config!r}")
        config = VGG_CONFIGS[config]
    if not isinstance(config, (list, tuple)) or not config:
        raise TypeError(f"config must be a VGG name or a non-empty list of channels and 'M', got {config!r:.60}")
    c, side = check_int(in_channels, "in_channels", min=1), check_int(image_size, "image_size", min=1)
    hidden, n_classes = check_int(hidden, "hidden", min=1), check_int(n_classes, "n_classes", min=1)
    total = 0
    for i, item in enumerate(config):
        if item == "M":
            side //= 2
        else:
            c_out = check_int(item, f"config[{i}]", min=1)
            total += conv_params(c, c_out, 3)
            c = c_out
    if side < 1:
        raise ValueError(f"image_size {image_size} is too small for {config.count('M')} poolings")
    flat = c * side * side
    return total + flat * hidden + hidden + hidden * hidden + hidden + hidden * n_classes + n_classes


def inception_params(c_in: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int) -> int:
    """Parameters of an Inception module (Szegedy et al., 2015): four parallel branches, outputs concatenated.

    A 1x1 convolution to ``c1``; a 1x1 reduction to ``c3_reduce`` then a 3x3 to ``c3``; a 1x1 reduction to
    ``c5_reduce`` then a 5x5 to ``c5``; a 3x3 max pooling then a 1x1 projection to ``pool_proj``. All with biases.
    Output channels: ``c1 + c3 + c5 + pool_proj``.
    """
    values = (c_in, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)
    names = ("c_in", "c1", "c3_reduce", "c3", "c5_reduce", "c5", "pool_proj")
    c_in, c1, c3_reduce, c3, c5_reduce, c5, pool_proj = (check_int(v, n, min=1) for v, n in zip(values, names))
    return (conv_params(c_in, c1, 1) + conv_params(c_in, c3_reduce, 1) + conv_params(c3_reduce, c3, 3)
            + conv_params(c_in, c5_reduce, 1) + conv_params(c5_reduce, c5, 5) + conv_params(c_in, pool_proj, 1))


def bottleneck_params(c_in: int, c_mid: int, expansion: int = 4, projection: bool | None = None) -> int:
    """Parameters of a ResNet bottleneck block (He et al., 2016): 1x1 to ``c_mid``, 3x3, 1x1 to ``expansion c_mid``.

    Convolutions have no bias; each is followed by a batch norm (2 parameters per channel: scale and shift).
    The shortcut is the identity, or a 1x1 convolution with its batch norm when ``projection`` (by default:
    when ``c_in`` differs from the output's channels).
    """
    c_in, c_mid = check_int(c_in, "c_in", min=1), check_int(c_mid, "c_mid", min=1)
    expansion = check_int(expansion, "expansion", min=1)
    c_out = expansion * c_mid
    total = (conv_params(c_in, c_mid, 1, bias=False) + conv_params(c_mid, c_mid, 3, bias=False)
             + conv_params(c_mid, c_out, 1, bias=False) + 2 * (c_mid + c_mid + c_out))
    if projection is None:
        projection = c_in != c_out
    if check_bool(projection, "projection"):
        total += conv_params(c_in, c_out, 1, bias=False) + 2 * c_out
    return total


def mobilenet_block_params(c_in: int, c_out: int, k: int = 3) -> int:
    """Parameters of a MobileNet block (Howard et al., 2017): a depthwise ``k x k`` convolution and a pointwise 1x1
    one, each followed by a batch norm.

    Convolutions have no bias; each batch norm has 2 parameters per channel.
    """
    return separable_params(c_in, c_out, k, bias=False) + 2 * c_in + 2 * check_int(c_out, "c_out", min=1)
