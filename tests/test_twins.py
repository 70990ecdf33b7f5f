"""PyTorch and Keras twins given the same weights compute the same outputs."""

import numpy as np
import pytest
import torch

import troikadl as tk

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def keras():
    tk.import_tf()
    import keras

    return keras


@pytest.mark.parametrize("n_in, n_out", [(30, 1), (4, 4), (2, 16)])
def test_linear_and_dense_agree(keras, n_in, n_out):
    torch.manual_seed(0)
    lin = torch.nn.Linear(n_in, n_out)
    dense = keras.layers.Dense(n_out)
    dense.build((None, n_in))
    tk.twins.copy_linear_to_keras(lin, dense)
    x = np.random.default_rng(0).normal(size=(64, n_in)).astype(np.float32)
    np.testing.assert_allclose(lin(torch.as_tensor(x)).detach().numpy(), dense(x).numpy(), atol=1e-6)
    back = torch.nn.Linear(n_in, n_out)
    tk.twins.copy_dense_to_torch(dense, back)
    assert torch.equal(back.weight, lin.weight) and torch.equal(back.bias, lin.bias)


def test_square_layer_without_transpose_would_be_wrong(keras):
    """Why the transpose matters: a square layer accepts untransposed weights and is silently wrong."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 4)
    dense = keras.layers.Dense(4)
    dense.build((None, 4))
    dense.set_weights([lin.weight.detach().numpy(), lin.bias.detach().numpy()])
    x = np.ones((2, 4), dtype=np.float32)
    assert not np.allclose(lin(torch.as_tensor(x)).detach().numpy(), dense(x).numpy(), atol=1e-3)


def test_shape_mismatch_is_explained(keras):
    dense = keras.layers.Dense(3)
    dense.build((None, 5))
    with pytest.raises(ValueError, match=r"dense kernel must have shape \(4, 3\)"):
        tk.twins.copy_linear_to_keras(torch.nn.Linear(4, 3), dense)
    nobias = keras.layers.Dense(3, use_bias=False)
    nobias.build((None, 4))
    with pytest.raises(ValueError, match="linear has a bias but dense has none"):
        tk.twins.copy_linear_to_keras(torch.nn.Linear(4, 3), nobias)


def test_copy_dense_to_torch_refuses_a_bias_it_cannot_fill(keras):
    """A Keras layer without a bias copied into a Linear with one would leave the Linear's random bias."""
    nobias = keras.layers.Dense(3, use_bias=False)
    nobias.build((None, 4))
    linear = torch.nn.Linear(4, 3)
    before = linear.weight.detach().clone()
    with pytest.raises(ValueError, match="linear has a bias but dense has none"):
        tk.twins.copy_dense_to_torch(nobias, linear)
    assert torch.equal(linear.weight, before)  # nothing half-copied
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    with pytest.raises(ValueError, match="dense has a bias but linear has none"):
        tk.twins.copy_dense_to_torch(dense, torch.nn.Linear(4, 3, bias=False))


@pytest.mark.parametrize("bias, stride, padding", [(True, 1, 0), (False, 2, 1), (True, 1, 1)])
def test_copy_conv2d_to_keras_computes_what_torch_computes(keras, bias, stride, padding):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, (3, 2), stride=stride, padding=padding, bias=bias, dtype=torch.float64)
    kconv = keras.layers.Conv2D(5, (3, 2), strides=stride, use_bias=bias, dtype="float64")
    x = np.random.default_rng(1).normal(size=(2, 3, 7, 6))
    xk = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).transpose(0, 2, 3, 1)  # NHWC
    kconv.build(xk.shape)
    assert tk.twins.copy_conv2d_to_keras(conv, kconv) is None  # fills the given layer
    ref = conv(torch.as_tensor(x)).detach().numpy()
    assert np.abs(kconv(xk).numpy().transpose(0, 3, 1, 2) - ref).max() <= 1e-12


def test_copy_conv2d_to_keras_checks_the_layer(keras):
    conv = torch.nn.Conv2d(2, 4, 3)
    wrong = keras.layers.Conv2D(4, 2)
    wrong.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match=r"keras_conv kernel must have shape \(3, 3, 2, 4\)"):
        tk.twins.copy_conv2d_to_keras(conv, wrong)
    nobias = keras.layers.Conv2D(4, 3, use_bias=False)
    nobias.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match="conv has a bias but keras_conv has none"):
        tk.twins.copy_conv2d_to_keras(conv, nobias)
    withbias = keras.layers.Conv2D(4, 3)
    withbias.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match="keras_conv has a bias but conv has none"):
        tk.twins.copy_conv2d_to_keras(torch.nn.Conv2d(2, 4, 3, bias=False), withbias)
    with pytest.raises(TypeError, match="keras_conv must be a built Keras Conv2D"):
        tk.twins.copy_conv2d_to_keras(conv, keras.layers.Conv2D(4, 3))
