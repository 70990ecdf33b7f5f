"""CNN models, their Keras twins, the shape tracer and the MNIST-1D loader."""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest
import torch
import torch.nn as nn

import troikadl as tk
from troikadl.cnn import cnn1d, copy_to_keras, count_parameters, lenet, lenet_keras, mlp, trace_shapes


def test_trace_shapes_records_every_layer_and_stops_at_the_error():
    t = trace_shapes(lenet(), (1, 8, 8))
    assert t.error is None and t.rows[-1].shape == (10,)
    assert sum(r.params for r in t.rows) == count_parameters(lenet())
    broken = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(99, 2))
    t = trace_shapes(broken, (1, 8, 8))
    assert [r.shape for r in t.rows] == [(4, 6, 6), (144,)]
    assert "mat1 and mat2 shapes cannot be multiplied" in t.error and "error:" in repr(t)
    with pytest.raises(ValueError, match=r"input_shape\[1\] must be >= 1"):
        trace_shapes(lenet(), (1, 0, 8))


def test_lenet_variants():
    assert trace_shapes(lenet(pool=False), (1, 8, 8)).rows[-1].shape == (10,)
    assert count_parameters(lenet(pool=False)) > count_parameters(lenet())
    with pytest.raises(ValueError, match="image_size must be divisible by 4"):
        lenet(image_size=10)
    assert trace_shapes(cnn1d(), (40,)).rows[-1].shape == (10,)
    assert count_parameters(mlp([40, 100, 100, 10])) == 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10


@pytest.mark.parametrize("activation, act", [("relu", torch.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid)])
def test_mlp_computes_the_layers_it_lists(activation, act):
    net = mlp([5, 4, 3, 2], activation)
    x = torch.randn(6, 5)
    (W1, b1), (W2, b2), (W3, b3) = [(m.weight, m.bias) for m in net if isinstance(m, nn.Linear)]
    ref = act(act(x @ W1.T + b1) @ W2.T + b2) @ W3.T + b3  # no activation after the last layer
    assert torch.allclose(net(x), ref, atol=1e-6)
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp([5, 2], "gelu")


@pytest.mark.tf
@pytest.mark.parametrize("channels, hidden", [((16, 32), 64), ((8, 4), 12)])
def test_keras_twin_computes_the_same_function(channels, hidden):
    tk.import_tf()
    torch.manual_seed(0)
    net = lenet(channels=channels, hidden=hidden).eval()
    twin = lenet_keras(channels=channels, hidden=hidden)
    copy_to_keras(net, twin, (1, 8, 8))
    x = np.random.default_rng(0).normal(size=(16, 1, 8, 8)).astype(np.float32)
    ours = net(torch.as_tensor(x)).detach().numpy()
    theirs = twin(x.transpose(0, 2, 3, 1)).numpy()
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.tf
def test_copy_to_keras_errors():
    tk.import_tf()
    with pytest.raises(ValueError, match="the models differ"):
        copy_to_keras(lenet(), _short_keras(), (1, 8, 8))
    with pytest.raises(ValueError, match="model does not run on input_shape"):
        copy_to_keras(lenet(), lenet_keras(), (1, 7, 7))


def _short_keras():
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, padding="same"),
                             keras.layers.Flatten(), keras.layers.Dense(10)])


def _same_numpy_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def test_mnist1d_is_generated_locally_and_leaves_global_rng_alone():
    generate = importlib.import_module("troikadl.data.mnist1d")._generate  # cached per process
    generate.cache_clear()
    np_state, py_state = np.random.get_state(), random.getstate()
    first = tk.data.mnist1d(n=500, seed=7)
    assert _same_numpy_state(np.random.get_state(), np_state) and random.getstate() == py_state
    generate.cache_clear()  # a second, independent generation
    again = tk.data.mnist1d(n=500, seed=7)
    for name in ("X_train", "y_train", "X_test", "y_test"):
        assert not np.shares_memory(getattr(first, name), getattr(again, name)), name
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name), err_msg=name)
    # the cache hands out copies: writing into one result does not change the next
    again.X_train[:], again.y_train[:] = 0, 0
    cached = tk.data.mnist1d(n=500, seed=7)
    np.testing.assert_array_equal(cached.X_train, first.X_train)
    np.testing.assert_array_equal(cached.y_train, first.y_train)
    other = tk.data.mnist1d(n=500, seed=8)
    assert not np.array_equal(other.X_train, first.X_train)  # the seed reaches the generator
    assert (first.X_train.shape, first.X_test.shape) == ((400, 40), (100, 40))
    d = tk.data.mnist1d()
    assert d.X_train.shape == (4000, 40) and d.X_test.shape == (1000, 40)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert set(np.unique(d.y_train)) == set(range(10))
    with pytest.raises(ValueError, match="n must be at least 10"):
        tk.data.mnist1d(n=5)


def test_digits_images_use_one_global_scale():
    d = tk.data.digits(images=True)
    assert d.X_train.shape == (1347, 1, 8, 8)
    assert abs(d.X_train.mean()) < 1e-12 and abs(d.X_train.std() - 1) < 1e-12
    flat = tk.data.digits()
    assert flat.X_train.shape == (1347, 64)
