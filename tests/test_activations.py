"""troikadl.activations against PyTorch's autograd and functional API, and against Keras 3 / TensorFlow."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import troikadl as tk
from troikadl import activations as act

FLOAT64 = 1e-13          # float64 rounding, with room for a few operations
KERAS_F32_CONST = 1e-7   # Keras/TF keep leaky_relu's slope and GELU's constants in float32 (measured: ~5e-9)
Z = np.linspace(-30, 30, 2001) + 1e-3   # off the kinks at 0

TORCH = {  # name -> (ours, derivative, torch function), each with the same options
    "leaky_relu": (act.leaky_relu, act.leaky_relu_grad, F.leaky_relu),
    "leaky_relu 0.2": (lambda z: act.leaky_relu(z, 0.2), lambda z: act.leaky_relu_grad(z, 0.2),
                       lambda z: F.leaky_relu(z, 0.2)),
    "gelu": (act.gelu, act.gelu_grad, F.gelu),
    "gelu tanh": (lambda z: act.gelu(z, approximate="tanh"), lambda z: act.gelu_grad(z, approximate="tanh"),
                  lambda z: F.gelu(z, approximate="tanh")),
    "silu": (act.silu, act.silu_grad, F.silu),
}


def _torch_value_and_grad(fn, z):
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = fn(zt)
    out.sum().backward()
    return out.detach().numpy(), zt.grad.numpy()


@pytest.mark.parametrize("name", sorted(TORCH))
def test_modern_activations_equal_torch_and_autograd(name):
    f, df, tf_ = TORCH[name]
    value, grad = _torch_value_and_grad(tf_, Z)
    np.testing.assert_allclose(f(Z), value, atol=FLOAT64, rtol=0)
    np.testing.assert_allclose(df(Z), grad, atol=FLOAT64, rtol=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-40, 40), min_size=1, max_size=20), st.floats(0, 1),
       st.sampled_from(["none", "tanh"]))
def test_random_points_and_options_equal_torch(zs, slope, approximate):
    z = np.array(zs)
    z = z[np.abs(z) > 1e-9]                       # the kink of the leaky ReLU has no derivative
    if z.size == 0:
        return
    for ours, d_ours, theirs in (
            (lambda v: act.leaky_relu(v, slope), lambda v: act.leaky_relu_grad(v, slope),
             lambda v: F.leaky_relu(v, slope)),
            (lambda v: act.gelu(v, approximate), lambda v: act.gelu_grad(v, approximate),
             lambda v: F.gelu(v, approximate=approximate))):
        value, grad = _torch_value_and_grad(theirs, z)
        np.testing.assert_allclose(ours(z), value, atol=FLOAT64, rtol=0)
        np.testing.assert_allclose(d_ours(z), grad, atol=FLOAT64, rtol=0)


def test_values_at_hand_computed_points():
    """Independent formulas: Phi from math.erf, sigma from math.exp, and the leaky ReLU's kink (slope at 0)."""
    for z in (-3.0, -0.5, 0.0, 0.7, 4.0):
        phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        sig = 1 / (1 + math.exp(-z))
        assert act.gelu(z) == pytest.approx(z * phi, abs=1e-15)
        assert act.gelu_grad(z) == pytest.approx(phi + z * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), abs=1e-15)
        assert act.silu(z) == pytest.approx(z * sig, abs=1e-15)
        assert act.silu_grad(z) == pytest.approx(sig + z * sig * (1 - sig), abs=1e-15)
    assert act.leaky_relu(np.array([-2.0, 0.0, 3.0]), 0.1).tolist() == [-0.2, 0.0, 3.0]
    assert act.leaky_relu_grad(np.array([-2.0, 0.0, 3.0]), 0.1).tolist() == [0.1, 0.1, 1.0]  # torch: slope at 0
    _, g0 = _torch_value_and_grad(lambda v: F.leaky_relu(v, 0.1), np.zeros(1))
    assert g0.tolist() == [pytest.approx(0.1)]


def test_the_tanh_gelu_is_close_to_the_exact_one_but_not_equal():
    gap = np.abs(act.gelu(Z) - act.gelu(Z, approximate="tanh")).max()
    assert 1e-5 < gap < 1e-3


def test_no_overflow_and_the_tails():
    with np.errstate(over="raise", invalid="raise"):
        big = np.array([-1000.0, 1000.0])
        assert act.silu(big).tolist() == [0.0, 1000.0] and act.silu_grad(big).tolist() == [0.0, 1.0]
        assert act.gelu(big).tolist() == [0.0, 1000.0] and act.gelu_grad(big).tolist() == [0.0, 1.0]


def test_neuron_reexports_the_same_objects_and_neuron_accepts_the_new_names():
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "gelu", "silu", "ACTIVATIONS"):
        assert getattr(tk.neuron, name) is getattr(act, name)
    x, w = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    assert tk.neuron.neuron(x, w, 0.0, "silu") == pytest.approx(-0.5 / (1 + math.exp(0.5)))


def test_bad_options():
    with pytest.raises(ValueError, match="approximate must be one of"):
        act.gelu(1.0, approximate="erf")
    with pytest.raises(ValueError, match="negative_slope"):
        act.leaky_relu(1.0, negative_slope=-0.1)


@pytest.mark.tf
@pytest.mark.parametrize("name", ["leaky_relu", "gelu", "gelu tanh", "silu"])
def test_modern_activations_equal_keras(name):
    tf = tk.import_tf()
    import keras

    keras_fn = {"leaky_relu": lambda z: keras.activations.leaky_relu(z, negative_slope=0.01),
                "gelu": keras.activations.gelu,                              # Keras 3's default: exact (erf)
                "gelu tanh": lambda z: keras.activations.gelu(z, approximate=True),
                "silu": keras.activations.silu}[name]
    f, df, _ = TORCH[name]
    z = tf.constant(Z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = keras_fn(z)
    np.testing.assert_allclose(f(Z), out.numpy(), atol=KERAS_F32_CONST, rtol=0)
    np.testing.assert_allclose(df(Z), tape.gradient(out, z).numpy(), atol=KERAS_F32_CONST, rtol=0)


@pytest.mark.parametrize("name", ["leaky_relu", "leaky_relu_grad", "gelu", "gelu_grad", "silu", "silu_grad"])
@pytest.mark.parametrize("kind", ["numpy", "torch", "list"])
def test_float32_in_float64_out(name, kind):
    """As tests/test_validate_dtypes.py asks of every from-scratch entry point: any array-like in, float64 out."""
    z32 = np.linspace(-3, 3, 7, dtype=np.float32)
    arg = {"numpy": z32, "torch": torch.from_numpy(z32), "list": z32.tolist()}[kind]
    out = getattr(act, name)(arg)
    assert type(out) is np.ndarray and out.dtype == np.float64
    np.testing.assert_array_equal(out, getattr(act, name)(z32.astype(np.float64)))
