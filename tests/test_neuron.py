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


def _averaged_perceptron_by_hand(X, y, lr, epochs, seed):
    """The averaged perceptron written the "lazy" way (Daume, 2012, A Course in Machine Learning, alg. 7):
    the average of the weights after each of the T steps is w - u / T, where u adds up each update times
    the number of steps before it. Same visiting order as the class (a seeded permutation per epoch)."""
    rng = np.random.default_rng(seed)
    w, b, u, beta, t = np.zeros(X.shape[1]), 0.0, np.zeros(X.shape[1]), 0.0, 0
    for _ in range(epochs):
        for i in rng.permutation(len(X)):
            s = 2.0 * y[i] - 1.0
            if s * (X[i] @ w + b) <= 0:
                w, b = w + lr * s * X[i], b + lr * s
                u, beta = u + t * lr * s * X[i], beta + t * lr * s
            t += 1
    return (w - u / t, b - beta / t), (w, b)


def test_averaged_perceptron_equals_an_independent_computation():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(-0.5, 1.0, size=(60, 3)), rng.normal(0.5, 1.0, size=(60, 3))])
    y = np.repeat([0, 1], 60)  # overlapping classes: not separable, so the weights never settle
    (w_avg, b_avg), (w_last, b_last) = _averaged_perceptron_by_hand(X, y, lr=0.7, epochs=5, seed=11)
    p = nr.Perceptron(lr=0.7, epochs=5, average=True, seed=11).fit(X, y)
    np.testing.assert_allclose(p.w_, w_avg, atol=1e-12, rtol=0)
    assert p.b_ == pytest.approx(b_avg, abs=1e-12)
    np.testing.assert_allclose(p.w_last_, w_last, atol=1e-12, rtol=0)
    assert p.b_last_ == pytest.approx(b_last, abs=1e-12)
    assert np.abs(w_avg - w_last).max() > 0.1 * np.abs(w_last).max()  # the average is not the last iterate
    np.testing.assert_array_equal(p.predict(X), (X @ w_avg + b_avg > 0).astype(int))
    np.testing.assert_allclose(p.decision_function(X), X @ w_avg + b_avg, atol=1e-12, rtol=0)
    last = nr.Perceptron(lr=0.7, epochs=5, average=False, seed=11).fit(X, y)
    np.testing.assert_allclose(last.w_, w_last, atol=1e-12, rtol=0)
    assert last.b_ == pytest.approx(b_last, abs=1e-12)


def _logistic_data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    p = 1 / (1 + np.exp(-(X @ np.array([1.5, -1.0, 0.5]) + 0.3)))
    return X, (rng.random(n) < p).astype(int)


def test_logistic_neuron_predict_proba_and_predict_follow_the_formula():
    X, y = _logistic_data()
    m = nr.LogisticNeuron(lr=0.5, epochs=50).fit(X, y)
    z = X @ m.w_ + m.b_
    np.testing.assert_allclose(m.predict_proba(X), 1 / (1 + np.exp(-z)), atol=1e-15, rtol=0)
    np.testing.assert_array_equal(m.predict(X), (z > 0).astype(int))
    m.w_, m.b_ = np.array([1.0, 0.0, 0.0]), 0.0  # set by hand: the boundary and far beyond it
    probe = np.array([[0.0, 5, 5], [1e-9, 0, 0], [-1e-9, 0, 0], [800.0, 0, 0], [-800.0, 0, 0]])
    with np.errstate(over="raise"):
        proba = m.predict_proba(probe)
    np.testing.assert_allclose(proba, [0.5, 0.5 + 2.5e-10, 0.5 - 2.5e-10, 1.0, 0.0], atol=1e-15, rtol=0)
    assert m.predict(probe).tolist() == [0, 1, 0, 1, 0]  # class 1 needs a probability above one half


def test_logistic_neuron_converges_to_sklearns_unpenalized_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    X, y = _logistic_data(seed=1)
    ours = nr.LogisticNeuron(lr=1.0, epochs=1000).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, y)  # C = inf: no penalty
    # Both minimize the same mean BCE. Measured: they agree to 1e-8 (the solvers' stopping points), hence 1e-6.
    np.testing.assert_allclose(ours.w_, ref.coef_[0], atol=1e-6, rtol=0)
    assert ours.b_ == pytest.approx(ref.intercept_[0], abs=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X)[:, 1], atol=1e-6, rtol=0)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
