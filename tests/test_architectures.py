"""Channels, receptive fields and block parameter counts (troikadl.architectures), against PyTorch and Keras."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import troikadl as tk
from troikadl.architectures import (VGG_CONFIGS, DepthwiseSeparableConv2d, bottleneck_params, conv_macs, conv_params,
                                    inception_params, mobilenet_block_params, receptive_field, separable_macs,
                                    separable_params, vgg_params)

ATOL = 1e-12  # float64 forward passes of the same operations


def numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- one convolution: parameters and multiply-adds ---------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(c_in_g=st.integers(1, 4), c_out_g=st.integers(1, 4), groups=st.integers(1, 4), kh=st.integers(1, 5),
       kw=st.integers(1, 5), bias=st.booleans())
def test_conv_params_equal_torch(c_in_g, c_out_g, groups, kh, kw, bias):
    c_in, c_out = c_in_g * groups, c_out_g * groups
    conv = nn.Conv2d(c_in, c_out, (kh, kw), groups=groups, bias=bias)
    assert conv_params(c_in, c_out, (kh, kw), groups=groups, bias=bias) == numel(conv)
    if kh == kw:
        assert conv_params(c_in, c_out, kh, groups=groups, bias=bias) == numel(conv)


@settings(max_examples=25, deadline=None)
@given(c_in_g=st.integers(1, 3), c_out_g=st.integers(1, 3), groups=st.integers(1, 3), k=st.integers(1, 4),
       n=st.integers(4, 9), stride=st.integers(1, 2))
def test_conv_macs_count_the_products_torch_makes(c_in_g, c_out_g, groups, k, n, stride):
    """Count the multiply-adds independently: each output value of a grouped conv reads (c_in/groups) k k inputs;
    measured by convolving all-ones inputs with all-ones kernels (each output then equals its own count)."""
    c_in, c_out = c_in_g * groups, c_out_g * groups
    ones = F.conv2d(torch.ones(1, c_in, n, n, dtype=torch.float64), torch.ones(c_out, c_in // groups, k, k,
                    dtype=torch.float64), stride=stride, groups=groups)
    out_size = tuple(ones.shape[-2:])
    assert conv_macs(c_in, c_out, k, out_size, groups=groups) == int(ones.sum())


def test_separable_counts_and_the_saving():
    c_in, c_out, k, n = 32, 64, 3, 16
    assert separable_params(c_in, c_out, k) == numel(DepthwiseSeparableConv2d(c_in, c_out, k))
    assert separable_params(c_in, c_out, k) == c_in * k * k + c_in * c_out + c_out
    assert separable_macs(c_in, c_out, k, n) == n * n * c_in * (k * k + c_out)
    # the ratio to a standard conv is 1/c_out + 1/k^2 (Howard et al., 2017, section 3.1), biases aside
    ratio = separable_macs(c_in, c_out, k, n) / conv_macs(c_in, c_out, k, n)
    assert ratio == pytest.approx(1 / c_out + 1 / k**2)


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_depthwise_separable_equals_grouped_then_pointwise_torch(stride, padding, dilation):
    torch.manual_seed(0)
    layer = DepthwiseSeparableConv2d(3, 5, 3, stride=stride, padding=padding, dilation=dilation).double()
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)
    dw = F.conv2d(x, layer.depthwise.weight, stride=stride, padding=padding, dilation=dilation, groups=3)
    # a depthwise conv is each channel convolved alone with its own kernel
    per_channel = torch.cat([F.conv2d(x[:, c:c + 1], layer.depthwise.weight[c:c + 1], stride=stride,
                                      padding=padding, dilation=dilation) for c in range(3)], dim=1)
    torch.testing.assert_close(dw, per_channel, atol=ATOL, rtol=0)
    # a 1x1 conv is a matmul over channels at each pixel
    mix = (torch.einsum("oc,bchw->bohw", layer.pointwise.weight[:, :, 0, 0], dw)
           + layer.pointwise.bias[None, :, None, None])
    torch.testing.assert_close(layer(x), mix, atol=ATOL, rtol=0)


@pytest.mark.tf
def test_depthwise_separable_equals_keras():
    import keras

    torch.manual_seed(1)
    ours = DepthwiseSeparableConv2d(4, 6, 3, padding=1).double()
    theirs = keras.layers.SeparableConv2D(6, 3, padding="same", dtype="float64")
    x = np.random.default_rng(0).normal(size=(2, 4, 7, 7))
    theirs.build((None, 7, 7, 4))
    assert separable_params(4, 6, 3) == theirs.count_params() == numel(ours)
    theirs.set_weights([ours.depthwise.weight.detach().numpy().transpose(2, 3, 0, 1),    # (k, k, c_in, 1)
                        ours.pointwise.weight.detach().numpy().transpose(2, 3, 1, 0),    # (1, 1, c_in, c_out)
                        ours.pointwise.bias.detach().numpy()])
    y_keras = np.asarray(theirs(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ours(torch.as_tensor(x)).detach().numpy(), y_keras, atol=1e-10)
    depthwise = keras.layers.DepthwiseConv2D(3, use_bias=False)
    depthwise.build((None, 7, 7, 4))
    assert depthwise.count_params() == conv_params(4, 4, 3, groups=4, bias=False)
    for groups, bias in ((1, True), (2, True), (2, False)):
        conv = keras.layers.Conv2D(6, (3, 2), groups=groups, use_bias=bias)
        conv.build((None, 7, 7, 4))
        assert conv.count_params() == conv_params(4, 6, (3, 2), groups=groups, bias=bias)


# --- receptive field, measured by autograd ----------------------------------------------------------------------


def autograd_receptive_field(layers, n: int = 64) -> int:
    """The extent of the nonzero gradient of one central output pixel w.r.t. a 1-D input (positive weights)."""
    x = torch.zeros(1, 1, n, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    y[0, 0, y.shape[-1] // 2].backward()
    support = torch.nonzero(x.grad[0, 0]).flatten()
    return int(support.max() - support.min() + 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4))
def test_receptive_field_equals_the_autograd_support(layers):
    size, jump = receptive_field(layers)
    n = size + 4 * jump + 8
    assert autograd_receptive_field(layers, n) == size
    # the jump: the fields of neighbouring outputs start `jump` inputs apart
    x = torch.arange(n, dtype=torch.float64)[None, None]
    y = x
    for k, s, d in layers:
        y = F.conv1d(y, torch.tensor([[[1.0] + [0.0] * (k - 1)]], dtype=torch.float64), stride=s, dilation=d)
    if y.shape[-1] > 1:
        assert int(y[0, 0, 1] - y[0, 0, 0]) == jump


def test_receptive_field_known_stacks():
    assert receptive_field([(3, 1)] * 3) == (7, 1)             # three 3x3 convs see what one 7x7 sees (VGG)
    assert receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)]) == (10, 4)
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == (15, 1)
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        receptive_field([(3, 0, 1)])
    with pytest.raises(TypeError, match="layers"):
        receptive_field("3,1,1")


# --- the blocks that introduced these ideas, built independently with torch.nn ---------------------------------


def torch_vgg(config, in_channels=3, image_size=224, hidden=4096, n_classes=1000) -> nn.Sequential:
    layers, c, side = [], in_channels, image_size
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            side //= 2
        else:
            layers += [nn.Conv2d(c, item, 3, padding=1), nn.ReLU()]
            c = item
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * side * side, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def test_vgg16_has_138_357_544_parameters():
    with torch.device("meta"):                  # no memory for the 138 M weights
        model = torch_vgg(VGG_CONFIGS["vgg16"])
    assert vgg_params("vgg16") == numel(model) == 138_357_544


@pytest.mark.parametrize("name", sorted(VGG_CONFIGS))
def test_vgg_small_configs_equal_torch(name):
    with torch.device("meta"):
        model = torch_vgg(VGG_CONFIGS[name], in_channels=1, image_size=32, hidden=64, n_classes=10)
    assert vgg_params(name, in_channels=1, image_size=32, hidden=64, n_classes=10) == numel(model)
    out = torch_vgg(VGG_CONFIGS[name][:3], 1, 8, 16, 10)(torch.zeros(2, 1, 8, 8))
    assert out.shape == (2, 10)


class Inception(nn.Module):
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.b1 = nn.Conv2d(c_in, c1, 1)
        self.b3 = nn.Sequential(nn.Conv2d(c_in, c3r, 1), nn.ReLU(), nn.Conv2d(c3r, c3, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(c_in, c5r, 1), nn.ReLU(), nn.Conv2d(c5r, c5, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c_in, pp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


def test_inception_module_equals_torch():
    config = (192, 64, 96, 128, 16, 32, 32)                  # GoogLeNet's inception (3a)
    block = Inception(*config)
    assert inception_params(*config) == numel(block)
    assert block(torch.zeros(1, 192, 4, 4)).shape == (1, 256, 4, 4)


def torch_bottleneck(c_in, c_mid, expansion=4, projection=None):
    c_out = expansion * c_mid
    body = nn.Sequential(nn.Conv2d(c_in, c_mid, 1, bias=False), nn.BatchNorm2d(c_mid), nn.ReLU(),
                         nn.Conv2d(c_mid, c_mid, 3, padding=1, bias=False), nn.BatchNorm2d(c_mid), nn.ReLU(),
                         nn.Conv2d(c_mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
    if projection is None:
        projection = c_in != c_out
    short = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)) if projection
             else nn.Identity())
    return nn.ModuleDict({"body": body, "shortcut": short})


@pytest.mark.parametrize("c_in, c_mid, projection", [(256, 64, None), (64, 64, None), (512, 128, True), (8, 2, False)])
def test_bottleneck_equals_torch(c_in, c_mid, projection):
    assert bottleneck_params(c_in, c_mid, projection=projection) == numel(torch_bottleneck(c_in, c_mid, 4, projection))


def test_mobilenet_block_equals_torch():
    block = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                          nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
    assert mobilenet_block_params(32, 64) == numel(block)


def test_clear_errors():
    with pytest.raises(ValueError, match="groups must divide"):
        conv_params(6, 4, 3, groups=4)
    with pytest.raises(ValueError, match="config must be one of"):
        vgg_params("vgg15")
    with pytest.raises(ValueError, match="image_size"):
        vgg_params("vgg16", image_size=16)
    with pytest.raises(TypeError, match="c_in"):
        conv_params(2.0, 4, 3)
    assert tk.architectures.conv_params(1, 1, 1, bias=False) == 1
