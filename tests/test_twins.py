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
    tk.twins.linear_to_dense(lin, dense)
    x = np.random.default_rng(0).normal(size=(64, n_in)).astype(np.float32)
    np.testing.assert_allclose(lin(torch.as_tensor(x)).detach().numpy(), dense(x).numpy(), atol=1e-6)
    back = torch.nn.Linear(n_in, n_out)
    tk.twins.dense_to_linear(dense, back)
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
        tk.twins.linear_to_dense(torch.nn.Linear(4, 3), dense)
    nobias = keras.layers.Dense(3, use_bias=False)
    nobias.build((None, 4))
    with pytest.raises(ValueError, match="linear has a bias but dense has none"):
        tk.twins.linear_to_dense(torch.nn.Linear(4, 3), nobias)
