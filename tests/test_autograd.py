"""The autograd engine against torch.autograd and tf.GradientTape, on fixed and random shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.autograd import Tensor, cross_entropy, mse, unbroadcast
from troikadl.gradcheck import gradcheck, numerical_gradient, relative_error
from troikadl.nn import MLP, Linear, sgd_step, zero_grad

TOL = 1e-12  # float64; the bound


def _mlp_case(activation: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(16, 6)), rng.integers(0, 4, 16)
    return MLP([6, 8, 5, 4], activation, seed=seed), X, y


def _ours(m, X, y):
    zero_grad(m.parameters())
    loss = cross_entropy(m(X), y)
    loss.backward()
    return float(loss.data), [p.grad for p in m.parameters()]


def _torch(m, X, y):
    net = m.to_torch()
    loss = torch.nn.functional.cross_entropy(net(torch.as_tensor(X)), torch.as_tensor(y))
    loss.backward()
    linears = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
    return loss.item(), [g for lin in linears for g in (lin.weight.grad.numpy().T, lin.bias.grad.numpy())]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_gradients_equal_torch(activation):
    m, X, y = _mlp_case(activation)
    (l1, g1), (l2, g2) = _ours(m, X, y), _torch(m, X, y)
    assert abs(l1 - l2) <= TOL
    for a, b in zip(g1, g2):
        assert a.shape == b.shape and np.abs(a - b).max() <= TOL


@pytest.mark.tf
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_gradients_equal_tensorflow(activation):
    tf = tk.import_tf()
    m, X, y = _mlp_case(activation, seed=1)
    net = m.to_keras()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(y), net(X)))
    grads = tape.gradient(loss, net.trainable_variables)  # kernel, bias, kernel, bias, ...
    l1, g1 = _ours(m, X, y)
    assert abs(l1 - float(loss)) <= TOL
    for a, b in zip(g1, grads):
        assert a.shape == tuple(b.shape) and np.abs(a - b.numpy()).max() <= TOL


def test_mse_equals_torch():
    rng = np.random.default_rng(0)
    p, t = Tensor(rng.normal(size=(5, 3))), rng.normal(size=(5, 3))
    loss = mse(p, t)
    loss.backward()
    pt = torch.tensor(p.data, requires_grad=True)
    lt = torch.nn.functional.mse_loss(pt, torch.as_tensor(t))
    lt.backward()
    assert abs(float(loss.data) - lt.item()) <= TOL
    assert np.abs(p.grad - pt.grad.numpy()).max() <= TOL


# --- property tests over random shapes ----------------------------------------------------------

shapes = st.tuples(st.integers(1, 4), st.integers(1, 5))


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: (n, m) with one of (n, m), (m,), (1, m), (n, 1), ()."""
    n, m = draw(shapes)
    other = draw(st.sampled_from([(n, m), (m,), (1, m), (n, 1), ()]))
    return (n, m), other


@settings(max_examples=40, deadline=None)
@given(broadcast_pair(), st.sampled_from(["add", "sub", "mul"]), st.integers(0, 2**31 - 1))
def test_broadcasting_ops_match_torch(shapes_, op, seed):
    sa, sb = shapes_
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    A, B = Tensor(a), Tensor(b)
    out = {"add": A + B, "sub": A - B, "mul": A * B}[op]
    w = rng.normal(size=out.shape)
    (out * w).sum().backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    tout = {"add": ta + tb, "sub": ta - tb, "mul": ta * tb}[op]
    (tout * torch.as_tensor(w)).sum().backward()
    assert A.grad.shape == sa and B.grad.shape == sb
    assert np.abs(A.grad - ta.grad.numpy()).max() <= TOL
    assert np.abs(B.grad - tb.grad.numpy()).max() <= TOL


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31 - 1),
       st.sampled_from(["relu", "tanh", "sigmoid", "log_softmax", "sum0", "sum1", "mean", "pow3"]))
def test_matmul_then_unary_ops_match_torch(n, k, m, seed, op):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, k)), rng.normal(size=(k, m))
    A, B = Tensor(a), Tensor(b)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)

    def apply(z, lib):
        if op in ("relu", "tanh", "sigmoid"):
            return getattr(z, op)()
        if op == "log_softmax":
            return z.log_softmax(-1) if lib == "ours" else torch.log_softmax(z, -1)
        if op == "sum0":
            return z.sum(axis=0, keepdims=True) if lib == "ours" else z.sum(0, keepdim=True)
        if op == "sum1":
            return z.sum(axis=1) if lib == "ours" else z.sum(1)
        if op == "mean":
            return z.mean()
        return z ** 3

    out, tout = apply(A @ B, "ours"), apply(ta @ tb, "torch")
    wt = rng.normal(size=out.shape)  # a random upstream gradient
    (out * wt).sum().backward()
    (tout * torch.as_tensor(wt)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=TOL, rtol=0)
    assert np.abs(A.grad - ta.grad.numpy()).max() <= 1e-11
    assert np.abs(B.grad - tb.grad.numpy()).max() <= 1e-11


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 10))
def test_unbroadcast_sums_to_the_original_shape(shape, extra):
    g = np.ones((extra + 1,) + shape)
    assert unbroadcast(g, shape).shape == shape
    assert unbroadcast(g, (1, shape[1])).sum() == g.sum()


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(["radd", "rmul", "rsub"]), st.sampled_from(["float", "int", "np.float64", "row", "full"]),
       st.integers(0, 2**31 - 1))
def test_reflected_ops_with_a_constant_on_the_left_match_torch(shape, op, kind, seed):
    """``c + x``, ``c * x``, ``c - x`` with a number or an array ``c`` on the left go through __radd__ etc."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    c = {"float": float(rng.normal()), "int": int(rng.integers(-3, 4)), "np.float64": np.float64(rng.normal()),
         "row": rng.normal(size=shape[1:]), "full": rng.normal(size=shape)}[kind]
    x, tx = Tensor(a), torch.tensor(a, requires_grad=True)
    tc = c if np.ndim(c) == 0 else torch.as_tensor(c)
    out, tout = {"radd": (c + x, tc + tx), "rmul": (c * x, tc * tx), "rsub": (c - x, tc - tx)}[op]
    assert isinstance(out, Tensor), f"{op} with {kind} on the left gave {type(out).__name__}, not a Tensor"
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=TOL, rtol=0)
    w = rng.normal(size=shape)  # a random upstream gradient
    (out * w).sum().backward()
    (tout * torch.as_tensor(w)).sum().backward()
    assert x.grad.shape == shape and np.abs(x.grad - tx.grad.numpy()).max() <= TOL


def test_reflected_ops_by_hand():
    x = Tensor(np.array([1.0, -2.0]))
    y = (2 - x) * (3 * x) + (1 + x)  # = 7x - 3x^2 + 1: dy/dx = 7 - 6x
    assert y.data.tolist() == [5.0, -25.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 19.0]
    assert (2.0 - Tensor(np.ones(2, dtype=np.float32))).data.dtype == np.float32  # constants take x's dtype


# --- behaviour and errors -----------------------------------------------------------------------

def test_leaves_accumulate_and_intermediates_reset():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]  # 2x, twice: like PyTorch, leaves add up until zeroed
    zero_grad([x])
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_a_tensor_used_twice_gets_both_contributions():
    x = Tensor(np.array([3.0]))
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1
    assert x.grad.tolist() == [7.0]


def test_float32_stays_float32():
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    y = (x * 2.0 + 1.0).tanh().mean()
    assert y.data.dtype == np.float32


def test_clear_errors():
    with pytest.raises(TypeError, match="data must be floating point"):
        Tensor(np.arange(3))
    with pytest.raises(TypeError, match="must be floating point"):
        Tensor(np.ones(3)) * np.arange(3)
    with pytest.raises(ValueError, match=r"other must have 3 rows"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 2)))
    with pytest.raises(ValueError, match="@ needs two 2-D tensors"):
        Tensor(np.ones(3)) @ Tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"other of shape \(4,\) does not broadcast against this tensor.s shape \(2, 3\)"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match="backward\\(\\) without grad needs a scalar"):
        Tensor(np.ones(3)).tanh().backward()
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels must be 2 integer class indices"):
        cross_entropy(Tensor(np.ones((2, 3))), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="target must have pred's shape"):
        mse(Tensor(np.ones((2, 1))), np.ones(2))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 6\)"):
        MLP([6, 3])(np.ones((2, 5)))
    with pytest.raises(ValueError, match="activation must be"):
        MLP([6, 3], "gelu")


def test_layers_name_their_bad_arguments():
    with pytest.raises(TypeError, match="rng must be a NumPy Generator"):
        Linear(3, 2, rng=0)
    for dtype in ("abc", None, np.int64):
        with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
            MLP([3, 2], dtype=dtype)
    with pytest.raises(TypeError, match="sizes must be a list"):
        MLP(3)
    with pytest.raises(ValueError, match=r"sizes\[0\] must be >= 1"):
        MLP([0, 4, 2])
    with pytest.raises(TypeError, match="seed must be an integer"):
        MLP([3, 2], seed=0.5)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\)"):
        Linear(3, 2, rng=np.random.default_rng(0))(Tensor(np.ones((4, 4))))
    with pytest.raises(ValueError, match="x must be finite"):
        MLP([3, 2])(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(TypeError, match="params must be a list of Tensors"):
        zero_grad(Tensor(np.ones(3)))
    with pytest.raises(TypeError, match=r"params\[0\] must be an autograd Tensor"):
        sgd_step([3, "a"], 0.1)
    with pytest.raises(ValueError, match="params must hold at least one Tensor"):
        sgd_step([], 0.1)


def test_valid_layer_inputs_still_work():
    lin = Linear(3, 2, rng=np.random.default_rng(0), dtype="float32")
    assert lin.W.data.dtype == np.float32
    x = np.arange(6).reshape(2, 3)  # integers become floats, like the other checked arrays
    np.testing.assert_allclose(lin(x).data, x @ lin.W.data + lin.b.data, rtol=1e-6)
    assert MLP([3, 2])(np.ones((0, 3))).shape == (0, 2)  # an empty batch is a batch
    p = Tensor(np.ones(2), requires_grad=True)
    p.grad = np.array([1.0, -1.0])
    sgd_step((q for q in [p]), 0.5)  # any iterable of Tensors, a generator included
    assert p.data.tolist() == [0.5, 1.5]


def test_mlp_learns_digits_quickly():
    from sklearn.datasets import load_digits

    d = load_digits()
    s = tk.data.split_and_scale(d.data, d.target, seed=0)
    m, rng = MLP([64, 64, 10], "relu", seed=0), np.random.default_rng(0)
    for _ in range(10):
        for idx in np.array_split(rng.permutation(len(s.X_train)), len(s.X_train) // 32):
            zero_grad(m.parameters())
            cross_entropy(m(s.X_train[idx]), s.y_train[idx]).backward()
            sgd_step(m.parameters(), 0.1)
    assert (m(s.X_test).data.argmax(1) == s.y_test).mean() > 0.95


def test_gradcheck_tools():
    m, X, y = _mlp_case("tanh")
    assert gradcheck(lambda: cross_entropy(m(X), y), m.parameters(), eps=1e-5) < 1e-6
    x = np.array([1.0, 2.0])
    g = numerical_gradient(lambda: float((x ** 3).sum()), x, eps=1e-4)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-7)
    assert x.tolist() == [1.0, 2.0], "the input must be restored"
    assert relative_error(np.array([0.0]), np.array([1e-12]))[0] == pytest.approx(1e-4)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda: Tensor(np.float32(0)), [Tensor(np.ones(1, dtype=np.float32))])
    with pytest.raises(ValueError, match="eps must be > 0"):
        numerical_gradient(lambda: 0.0, x, eps=0)
