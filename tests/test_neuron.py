import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
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


# --- softmax regression and the squared-error neuron --------------------------------------------------

FLOAT64 = 1e-12   # float64 rounding over sums of a few hundred terms


def _softmax_problem(seed, m=40, n=5, k=4, scale=1.0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(m, n)), rng.integers(0, k, m)
    y[:k] = np.arange(k)                                    # every class present
    model = nr.SoftmaxRegression(epochs=1, classes=k).fit(X, y)
    model.W_, model.b_ = scale * rng.normal(size=(n, k)), scale * rng.normal(size=k)
    return X, y, model


def _torch_softmax_ce(X, y, W, b):
    lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(W.T))
        lin.bias.copy_(torch.as_tensor(b))
    loss = torch.nn.functional.cross_entropy(lin(torch.as_tensor(X)), torch.as_tensor(y))
    loss.backward()
    return loss.item(), lin.weight.grad.numpy().T, lin.bias.grad.numpy()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.integers(1, 6), st.integers(2, 7),
       st.sampled_from([0.1, 1.0, 30.0]))
def test_softmax_loss_and_gradient_equal_torch(seed, m, n, k, scale):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(m, n)), rng.integers(0, k, m)
    model = nr.SoftmaxRegression(epochs=1, classes=k).fit(X, y)
    model.W_, model.b_ = scale * rng.normal(size=(n, k)), scale * rng.normal(size=k)   # large logits too
    loss, dW, db = model.loss_and_grad(X, y)
    t_loss, t_dW, t_db = _torch_softmax_ce(X, y, model.W_, model.b_)
    assert loss == pytest.approx(t_loss, abs=FLOAT64 * max(1.0, abs(t_loss)))
    np.testing.assert_allclose(dW, t_dW, atol=FLOAT64, rtol=0)
    np.testing.assert_allclose(db, t_db, atol=FLOAT64, rtol=0)


def test_softmax_regression_steps_equal_torch_sgd():
    """Five full-batch steps from zero equal torch's SGD on F.cross_entropy, loss by loss and weight by weight."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    ours = nr.SoftmaxRegression(lr=0.7, epochs=5).fit(X, y)
    lin = torch.nn.Linear(3, 3, dtype=torch.float64)
    torch.nn.init.zeros_(lin.weight), torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.SGD(lin.parameters(), lr=0.7)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(torch.as_tensor(X)), torch.as_tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(ours.loss_, losses, atol=FLOAT64, rtol=0)
    assert ours.loss_[0] == pytest.approx(np.log(3), abs=FLOAT64)
    np.testing.assert_allclose(ours.W_, lin.weight.detach().numpy().T, atol=FLOAT64, rtol=0)
    np.testing.assert_allclose(ours.b_, lin.bias.detach().numpy(), atol=FLOAT64, rtol=0)
    probs = torch.softmax(lin(torch.as_tensor(X)), dim=1).detach().numpy()
    np.testing.assert_allclose(ours.predict_proba(X), probs, atol=FLOAT64, rtol=0)
    np.testing.assert_array_equal(ours.predict(X), probs.argmax(1))
    np.testing.assert_allclose(ours.decision_function(X), X @ ours.W_ + ours.b_, atol=FLOAT64, rtol=0)


def test_softmax_regression_converges_to_sklearns_multinomial_model():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 300)
    X = rng.normal(size=(300, 4)) + np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])[y]  # overlapping
    ours = nr.SoftmaxRegression(lr=1.0, epochs=3000).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)   # multinomial, no penalty
    # Same loss, same minimum: the probabilities agree (the weights are defined only up to a shift per feature).
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6, rtol=0)


def test_two_class_softmax_regression_is_the_logistic_neuron_at_twice_the_rate():
    X, y = _logistic_data(seed=2)
    two = nr.SoftmaxRegression(lr=0.3, epochs=200).fit(X, y)
    one = nr.LogisticNeuron(lr=0.6, epochs=200).fit(X, y)
    np.testing.assert_allclose(two.predict_proba(X)[:, 1], one.predict_proba(X), atol=1e-12, rtol=0)
    np.testing.assert_allclose(two.W_[:, 1] - two.W_[:, 0], one.w_, atol=1e-12, rtol=0)
    z = np.linspace(-40, 40, 81)
    np.testing.assert_allclose(nr.softmax(np.stack([np.zeros_like(z), z], 1))[:, 1], 1 / (1 + np.exp(-z)),
                               atol=1e-15, rtol=0)


def test_softmax_regression_validates():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"y must only hold labels \[0, 1, 2\]"):
        nr.SoftmaxRegression(epochs=1, classes=3).fit(X, [0, 1, 3, 1])
    with pytest.raises(ValueError, match="y must only hold labels"):
        nr.SoftmaxRegression(epochs=1).fit(X, [0, -1, 1, 1])
    with pytest.raises(ValueError, match="classes must be >= 2"):
        nr.SoftmaxRegression(classes=1)
    m = nr.SoftmaxRegression(epochs=1).fit(X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="X must have 2 columns"):
        m.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"y must only hold labels \[0, 1, 2\]"):
        m.loss_and_grad(X, [0, 1, 5, 1])
    assert nr.SoftmaxRegression(epochs=1).fit(X, [1, 1, 1, 1]).W_.shape == (2, 2)   # at least two classes


@pytest.mark.tf
def test_softmax_loss_and_gradient_equal_keras():
    tf = tk.import_tf()
    import keras

    X, y, model = _softmax_problem(5, scale=3.0)
    W, b = tf.Variable(model.W_), tf.Variable(model.b_)
    with tf.GradientTape() as tape:
        logits = tf.constant(X) @ W + b
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")(y, logits)
    gW, gb = tape.gradient(loss, [W, b])
    ours, dW, db = model.loss_and_grad(X, y)
    assert ours == pytest.approx(float(loss), abs=FLOAT64)
    np.testing.assert_allclose(dW, gW.numpy(), atol=FLOAT64, rtol=0)
    np.testing.assert_allclose(db, gb.numpy(), atol=FLOAT64, rtol=0)


def test_mse_neuron_step_equals_torch_and_starts_where_told():
    """loss="mse" follows torch's F.mse_loss on the sigmoid; w0, b0 set the start."""
    X, y = _logistic_data(seed=3, n=50)
    w0, b0 = np.array([3.0, -2.0, 1.0]), -0.5
    ours = nr.LogisticNeuron(lr=0.4, epochs=1, loss="mse").fit(X, y, w0=w0, b0=b0)
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(torch.as_tensor(X) @ w + b)
    loss = torch.nn.functional.mse_loss(p, torch.as_tensor(y, dtype=torch.float64))
    loss.backward()
    assert ours.loss_[0] == pytest.approx(loss.item(), abs=1e-15)
    np.testing.assert_allclose(ours.w_, w0 - 0.4 * w.grad.numpy(), atol=1e-15, rtol=0)
    assert ours.b_ == pytest.approx(b0 - 0.4 * b.grad.item(), abs=1e-15)
    bce = nr.LogisticNeuron(lr=0.4, epochs=1).fit(X, y, w0=w0, b0=b0)
    loss_t = torch.nn.functional.binary_cross_entropy_with_logits(torch.as_tensor(X) @ torch.as_tensor(w0) + b0,
                                                                  torch.as_tensor(y, dtype=torch.float64))
    assert bce.loss_[0] == pytest.approx(loss_t.item(), abs=1e-14)
    assert w0.tolist() == [3.0, -2.0, 1.0]                     # the start is copied, not changed
    with pytest.raises(ValueError, match="w0 must have one weight per column of X"):
        nr.LogisticNeuron(epochs=1).fit(X, y, w0=np.zeros(2))
    with pytest.raises(ValueError, match="loss must be one of"):
        nr.LogisticNeuron(loss="hinge")


def test_mse_stalls_where_cross_entropy_recovers():
    """The chapter's claim, on synthetic data: from a confidently wrong start, MSE barely moves in 100 steps."""
    X, y = _logistic_data(seed=4)
    w_wrong, b_wrong = -10 * np.array([1.5, -1.0, 0.5]), -3.0
    start = np.mean((X @ w_wrong + b_wrong > 0) == y)
    mse = nr.LogisticNeuron(lr=0.5, epochs=100, loss="mse").fit(X, y, w0=w_wrong, b0=b_wrong)
    bce = nr.LogisticNeuron(lr=0.5, epochs=100).fit(X, y, w0=w_wrong, b0=b_wrong)
    assert start < 0.3
    assert np.mean(mse.predict(X) == y) < start + 0.1 and np.mean(bce.predict(X) == y) > 0.7


def test_softmax_loss_survives_huge_logits():
    """Logits near 1000 overflow exp() without the log-sum-exp shift; with it the loss equals torch's."""
    _, y, model = _softmax_problem(7, m=6, n=2, k=3)
    model.W_ = np.array([[900.0, 1000.0, -1000.0], [0.0, 5.0, 0.0]])
    model.b_ = np.zeros(3)
    X = np.array([[1.0, 0.3], [0.5, -1.0], [0.9, 0.2], [0.1, 0.0], [0.7, 1.0], [0.2, 2.0]])   # logits up to 1000
    with np.errstate(over="raise", invalid="raise"):
        loss, dW, db = model.loss_and_grad(X, y)
    t_loss, t_dW, t_db = _torch_softmax_ce(X, y, model.W_, model.b_)
    assert loss == pytest.approx(t_loss, rel=1e-12)
    np.testing.assert_allclose(dW, t_dW, atol=FLOAT64, rtol=0)
    np.testing.assert_allclose(db, t_db, atol=FLOAT64, rtol=0)


def test_softmax_regression_float32_in_float64_out():
    X, y, _ = _softmax_problem(8)
    X32 = X.astype(np.float32)
    for inputs in (X32, torch.from_numpy(X32)):
        m = nr.SoftmaxRegression(epochs=3).fit(inputs, y)
        ref = nr.SoftmaxRegression(epochs=3).fit(X32.astype(np.float64), y)
        for a, b in ((m.W_, ref.W_), (m.predict_proba(inputs), ref.predict_proba(X32.astype(np.float64)))):
            assert a.dtype == np.float64 and np.array_equal(a, b)
