"""Convolution and pooling from scratch against PyTorch and TensorFlow, over many geometries."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import troikadl as tk
from troikadl.conv import avg_pool2d, conv2d, conv2d_loops, conv_output_size, max_pool2d

# (H, W, kH, kW, stride, padding, dilation): square and rectangular, every option on and off
GEOMETRIES = [
    (8, 8, 3, 3, 1, 0, 1), (8, 8, 3, 3, 1, 1, 1), (8, 8, 3, 3, 2, 1, 1), (9, 7, 3, 2, 2, 0, 1),
    (10, 10, 3, 3, 1, 2, 2), (7, 9, 2, 4, (2, 1), (1, 2), 1), (12, 11, 5, 3, 3, 2, 1),
    (6, 6, 1, 1, 1, 0, 1), (9, 9, 3, 3, 1, 0, (2, 3)), (5, 5, 5, 5, 1, 0, 1),
]


def _case(geom, seed=0, n=2, c_in=3, c_out=4):
    H, W, kh, kw, *_ = geom
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c_in, H, W)), rng.normal(size=(c_out, c_in, kh, kw)), rng.normal(size=c_out)


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_both_versions_equal_torch(geom):
    x, w, b = _case(geom)
    s, p, d = geom[4:]
    ref = F.conv2d(torch.as_tensor(x), torch.as_tensor(w), torch.as_tensor(b), stride=s, padding=p,
                   dilation=d).numpy()
    for fn in (conv2d_loops, conv2d):
        out = fn(x, w, b, stride=s, padding=p, dilation=d)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-12, rtol=0)


def _tf_conv(tf, x, w, b, s, p, d):
    s, p, d = [(v, v) if isinstance(v, int) else v for v in (s, p, d)]
    y = tf.nn.conv2d(np.transpose(x, (0, 2, 3, 1)), np.transpose(w, (2, 3, 1, 0)), strides=[1, *s, 1],
                     padding=[[0, 0], [p[0], p[0]], [p[1], p[1]], [0, 0]], dilations=[1, *d, 1])
    return np.transpose(y.numpy(), (0, 3, 1, 2)) + b[None, :, None, None]


@pytest.mark.tf
@pytest.mark.parametrize("geom", [g for g in GEOMETRIES if g[4] == 1 or g[6] == 1])
def test_both_versions_equal_tensorflow(geom):
    tf = tk.import_tf()
    x, w, b = _case(geom, seed=1)
    s, p, d = geom[4:]
    ref = _tf_conv(tf, x, w, b, s, p, d)
    for fn in (conv2d_loops, conv2d):
        np.testing.assert_allclose(fn(x, w, b, stride=s, padding=p, dilation=d), ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("k, s, p", list(itertools.product([2, 3], [1, 2, None], [0, 1])))
def test_pooling_equals_torch(k, s, p):
    x = np.random.default_rng(2).normal(size=(2, 3, 9, 8))
    xt = torch.as_tensor(x)
    np.testing.assert_allclose(max_pool2d(x, k, s, p), F.max_pool2d(xt, k, s, p).numpy(), atol=1e-15)
    np.testing.assert_allclose(avg_pool2d(x, k, s, p), F.avg_pool2d(xt, k, s, p).numpy(), atol=1e-12)


@pytest.mark.tf
def test_pooling_equals_tensorflow():
    tf = tk.import_tf()
    x = np.random.default_rng(3).normal(size=(2, 3, 8, 10))
    nhwc = np.transpose(x, (0, 2, 3, 1))
    for ours, theirs in ((max_pool2d, tf.nn.max_pool2d), (avg_pool2d, tf.nn.avg_pool2d)):
        ref = np.transpose(theirs(nhwc, ksize=2, strides=2, padding="VALID").numpy(), (0, 3, 1, 2))
        np.testing.assert_allclose(ours(x, 2), ref, atol=1e-12)


def test_output_size_formula_matches_torch_everywhere():
    for n, k, s, p, d in itertools.product(range(1, 12), range(1, 6), range(1, 4), range(0, 3), range(1, 3)):
        if d * (k - 1) + 1 > n + 2 * p:
            with pytest.raises(ValueError, match="the kernel spans"):
                conv_output_size(n, k, s, p, d)
            continue
        expected = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
        assert conv_output_size(n, k, s, p, d) == expected


def test_clear_errors():
    x, w, b = _case(GEOMETRIES[0])
    with pytest.raises(ValueError, match="x has 3 channels but w expects 2"):
        conv2d(x, w[:, :2])
    with pytest.raises(ValueError, match="x must be 4-D"):
        conv2d(x[0], w)
    with pytest.raises(ValueError, match="b must have one entry per output channel"):
        conv2d(x, w, b[:2])
    with pytest.raises(ValueError, match=r"the kernel spans 9 inputs .* padded input has only 8"):
        conv2d(x, np.ones((1, 3, 9, 9)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv2d(x, w, stride=0)
    with pytest.raises(TypeError, match="padding must be an integer, got float 1.5"):
        conv2d(x, w, padding=1.5)
    with pytest.raises(ValueError, match=r"stride must hold 2 integers such as \(2, 3\), got 3"):
        conv2d(x, w, stride=(1, 1, 1))
    with pytest.raises(TypeError, match=r"dilation\[1\] must be an integer"):
        conv2d(x, w, dilation=(1, 2.0))
    with pytest.raises(TypeError, match="x must hold numbers"):
        conv2d(np.array([[[["a"]]]]), w)
    with pytest.raises(ValueError, match="padding must be at most half the kernel size"):
        max_pool2d(x, 2, padding=2)
