import numpy as np
import pytest
import torch

import troikadl as tk
from troikadl import neuron as nr

Z = np.linspace(-30, 30, 2001) + 1e-3  # off the ReLU kink
TORCH = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_activation_and_derivative_equal_torch_autograd(name):
    f, df = nr.ACTIVATIONS[name]
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    out = TORCH[name](z)
    out.sum().backward()
    np.testing.assert_allclose(f(Z), out.detach().numpy(), atol=1e-15, rtol=0)
    np.testing.assert_allclose(df(Z), z.grad.numpy(), atol=1e-15, rtol=0)


@pytest.mark.tf
@pytest.mark.parametrize("name", sorted(TORCH))
def test_activation_and_derivative_equal_tensorflow(name):
    tf = tk.import_tf()
    f, df = nr.ACTIVATIONS[name]
    z = tf.constant(Z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = {"sigmoid": tf.sigmoid, "tanh": tf.tanh, "relu": tf.nn.relu}[name](z)
    grad = tape.gradient(out, z).numpy()
    # TF's tanh kernel differs from NumPy's by a few ulps (seen: 1.6e-15), hence 1e-13 here
    np.testing.assert_allclose(f(Z), out.numpy(), atol=1e-13, rtol=0)
    np.testing.assert_allclose(df(Z), grad, atol=1e-13, rtol=0)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        s = nr.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    assert s.tolist() == [0.0, 0.5, 1.0]


def test_neuron_forward_and_errors():
    x, w = np.array([1.0, -2.0, 0.5]), np.array([0.4, 0.3, -1.0])
    assert nr.neuron(x, w, 0.1, "identity") == pytest.approx(-0.6)
    assert nr.neuron(np.stack([x, x]), w, 0.1, "relu").tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="activation must be one of"):
        nr.neuron(x, w, 0.0, "softplus")
    with pytest.raises(ValueError, match=r"x must be \(3,\) or \(m, 3\)"):
        nr.neuron(np.ones(4), w, 0.0)


def test_perceptron_update_rule():
    w, b = np.zeros(2), 0.0
    w, b = nr.perceptron_update(w, b, np.array([1.0, 2.0]), +1, lr=0.5)  # on the boundary: update
    assert w.tolist() == [0.5, 1.0] and b == 0.5
    w2, b2 = nr.perceptron_update(w, b, np.array([1.0, 2.0]), +1)  # now correct: no change
    assert w2 is w and b2 == b
    w3, b3 = nr.perceptron_update(w, b, np.array([1.0, 2.0]), -1)  # wrong: move away
    assert w3.tolist() == [-0.5, -1.0] and b3 == -0.5
    with pytest.raises(ValueError, match=r"y \(the perceptron's label coding\) must be one of \[-1, 1\]"):
        nr.perceptron_update(w, b, np.ones(2), 0)


def test_perceptron_separates_separable_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    X = X[np.abs(X @ np.array([2.0, -1.0]) + 0.3) > 0.2]  # a margin, so the rule converges
    y = (X @ np.array([2.0, -1.0]) + 0.3 > 0).astype(int)
    p = nr.Perceptron(epochs=50, average=False, seed=0).fit(X, y)
    assert p.mistakes_[-1] == 0
    assert (p.predict(X) == y).all()


def test_logistic_neuron_gradient_is_the_bce_gradient():
    """One step of our update equals one step of torch's SGD on torch's BCE loss."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50)
    ours = nr.LogisticNeuron(lr=0.3, epochs=1).fit(X, y)
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.as_tensor(X) @ w + b,
                                                                torch.as_tensor(y, dtype=torch.float64))
    loss.backward()
    assert ours.loss_[0] == pytest.approx(loss.item(), abs=1e-14)
    np.testing.assert_allclose(ours.w_, -0.3 * w.grad.numpy(), atol=1e-15)
    assert ours.b_ == pytest.approx(-0.3 * b.grad.item(), abs=1e-15)


def test_models_validate_inputs():
    with pytest.raises(ValueError, match=r"y must only hold labels \[0, 1\]"):
        nr.Perceptron().fit(np.ones((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="lr must be > 0"):
        nr.LogisticNeuron(lr=0)
    with pytest.raises(ValueError, match="X must have 2 columns"):
        nr.LogisticNeuron(epochs=1).fit(np.ones((3, 2)), [0, 1, 1]).predict(np.ones((2, 3)))


@pytest.mark.tf
def test_logistic_neuron_gradient_equals_tensorflow():
    """The same first step, checked against tf.GradientTape on Keras's binary cross-entropy."""
    tf = tk.import_tf()
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    ours = nr.LogisticNeuron(lr=0.1, epochs=1).fit(X, y)
    w = tf.Variable(np.zeros(3))
    b = tf.Variable(0.0, dtype=tf.float64)
    with tf.GradientTape() as tape:
        z = tf.linalg.matvec(tf.constant(X), w) + b
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.constant(y, tf.float64), z))
    gw, gb = tape.gradient(loss, [w, b])
    assert ours.loss_[0] == pytest.approx(float(loss), abs=1e-14)
    np.testing.assert_allclose(ours.w_, -0.1 * gw.numpy(), atol=1e-15)
    assert ours.b_ == pytest.approx(-0.1 * float(gb), abs=1e-15)
