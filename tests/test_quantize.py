"""Chapter 10: affine quantization (vs torch's quantized tensors), fake quantization, and deployment formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

import troikadl as tk
from troikadl.compress import deploy
from troikadl.compress import quantize as Q

pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions")


def _x(seed=0, shape=(16, 33)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * rng.uniform(0.1, 3, size=(shape[0], 1)) + 0.3


def _reference(x, bits, symmetric, axis=None):
    """``(scale, zero_point, qmin, qmax)`` written out from the definition in float64, independently of ``Q``:
    the range [min(x, 0), max(x, 0)] (per slice along ``axis``) onto [0, 2^b - 1], or [-max|x|, max|x|] onto
    [-(2^(b-1) - 1), 2^(b-1) - 1] with zero point 0. Arrays of one entry per channel, shaped to broadcast."""
    x = np.asarray(x, dtype=np.float64)
    keep = axis is not None
    other = None if axis is None else tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    lo = np.minimum(x.min(axis=other, keepdims=keep), 0.0)
    hi = np.maximum(x.max(axis=other, keepdims=keep), 0.0)
    if symmetric:
        qmin, qmax = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
        scale = np.maximum(-lo, hi) / qmax
        return scale, np.zeros_like(scale), qmin, qmax
    qmin, qmax = 0, 2 ** bits - 1
    scale = (hi - lo) / (qmax - qmin)
    return scale, qmin - np.round(lo / scale), qmin, qmax


def _ref_codes(x, bits, symmetric, axis=None):
    scale, zero, qmin, qmax = _reference(x, bits, symmetric, axis)
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale) + zero, qmin, qmax), scale, zero


def _ref_fake_quantize(x, bits, symmetric, axis=None):
    q, scale, zero = _ref_codes(x, bits, symmetric, axis)
    return (q - zero) * scale


def _observer(bits, symmetric, axis):
    """torch.ao's min-max observer for the same grid (it computes in float32)."""
    qmin, qmax = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)
    kw = {"dtype": torch.qint8 if symmetric else torch.quint8, "quant_min": qmin, "quant_max": qmax}
    if axis is None:
        return MinMaxObserver(qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine, **kw)
    scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    return PerChannelMinMaxObserver(ch_axis=axis, qscheme=scheme, **kw)


# --- the quantizer ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", Q.SUPPORTED_BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_qparams_equal_the_definition_and_torchs_min_max_observer(bits, symmetric, axis):
    """Scale and zero point against the definition (float64: the same few operations, equal to 1e-15) and
    against torch.ao's MinMaxObserver / PerChannelMinMaxObserver with the same quant_min and quant_max
    (which compute in float32: rtol 1e-6, about 10 float32 ulps)."""
    x = _x(bits)
    qp = Q.choose_qparams(x, bits=bits, symmetric=symmetric, axis=axis)
    scale, zero, qmin, qmax = _reference(x, bits, symmetric, axis)
    assert (qp.qmin, qp.qmax) == (qmin, qmax)
    np.testing.assert_allclose(qp.scale, scale.ravel(), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(qp.zero_point, zero.ravel())
    obs = _observer(bits, symmetric, axis)
    obs(torch.tensor(x, dtype=torch.float32))
    t_scale, t_zero = obs.calculate_qparams()
    np.testing.assert_allclose(qp.scale, t_scale.double().numpy().ravel(), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(qp.zero_point, t_zero.numpy().ravel())


@pytest.mark.parametrize("bits", Q.SUPPORTED_BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("axis", [None, 0])
def test_round_trip_error_is_at_most_half_a_step(bits, symmetric, axis):
    """The codes are the definition's; the error is at most half of the definition's step (float64: x / step is
    at most 2^b, so rounding adds under 1e-13 of a step: 1e-12 is stated); the grid is used to its ends
    (a scale twice too large would keep the error bound)."""
    x = _x(bits)
    qp = Q.choose_qparams(x, bits=bits, symmetric=symmetric, axis=axis)
    q = Q.quantize(x, qp)
    codes, step, zero = _ref_codes(x, bits, symmetric, axis)
    np.testing.assert_array_equal(q, codes)
    err = np.abs(Q.dequantize(q, qp) - x)
    assert np.all(err <= step * (0.5 + 1e-12))
    assert err.max() > step.min() / 4  # it did quantize
    per = None if axis is None else 1  # per channel: each row reaches an end of its grid
    if symmetric:
        assert np.all(np.abs(q).max(axis=per) == qp.qmax)
    else:
        assert np.all((q.min(axis=per) == qp.qmin) | (q.max(axis=per) == qp.qmax))


def test_zero_is_exact_and_ranges_are_right():
    x = np.array([[0.0, 0.5, 1.7, 3.2]])
    for symmetric in (False, True):
        qp = Q.choose_qparams(x, bits=8, symmetric=symmetric)
        assert Q.dequantize(Q.quantize(np.zeros(3), qp), qp).tolist() == [0.0, 0.0, 0.0]
    assert Q.int_range(8, False) == (0, 255) and Q.int_range(8, True) == (-127, 127)
    assert Q.int_range(4, True) == (-7, 7) and Q.int_range(2, True) == (-1, 1)


def test_per_tensor_asymmetric_equals_torch_quint8():
    x = _x(1)
    qp = Q.choose_qparams(x, bits=8, symmetric=False)
    scale, zero, _, _ = _reference(x, 8, False)
    tq = torch.quantize_per_tensor(torch.tensor(x, dtype=torch.float32), float(scale), int(zero), torch.quint8)
    np.testing.assert_array_equal(tq.int_repr().numpy().astype(np.int64), Q.quantize(x, qp))


def test_per_channel_symmetric_equals_torch_qint8():
    x = _x(2)
    qp = Q.choose_qparams(x, bits=8, symmetric=True, axis=0)
    assert qp.scale.shape == (16,) and np.all(qp.zero_point == 0)
    scale = np.abs(x).max(1) / 127  # per-channel scales follow each row's own range
    tq = torch.quantize_per_channel(torch.tensor(x, dtype=torch.float32), torch.tensor(scale),
                                    torch.zeros(16, dtype=torch.int64), 0, torch.qint8)
    np.testing.assert_array_equal(tq.int_repr().numpy().astype(np.int64), Q.quantize(x, qp))
    np.testing.assert_allclose(qp.scale, scale, rtol=1e-15, atol=0)


def test_per_channel_is_never_worse_than_per_tensor_on_uneven_rows():
    x = _x(3)
    errs = {}
    for axis in (None, 0):
        qp = Q.choose_qparams(x, bits=4, symmetric=True, axis=axis)
        errs[axis] = np.mean((Q.dequantize(Q.quantize(x, qp), qp) - x) ** 2)
    assert errs[0] < errs[None]


@pytest.mark.parametrize("symmetric, axis", [(False, None), (True, None), (True, 0), (False, 1)])
def test_fake_quantize_forward_and_gradient_equal_torch(symmetric, axis):
    """Against the definition in float64 (1e-12 relative to max|x|) and against torch.fake_quantize_*_affine
    with torch.ao's observer's parameters (float32: 1e-5 relative): values and straight-through gradients."""
    x = _x(4)
    a = torch.tensor(x, requires_grad=True)
    out = Q.fake_quantize(a, bits=4, symmetric=symmetric, axis=axis)
    np.testing.assert_allclose(out.detach().numpy(), _ref_fake_quantize(x, 4, symmetric, axis), rtol=0,
                               atol=1e-12 * np.abs(x).max())
    (out * torch.arange(33.0, dtype=torch.float64)).sum().backward()
    b = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    obs = _observer(4, symmetric, axis)
    obs(b.detach())
    scale, zero = obs.calculate_qparams()
    if axis is None:
        ref = torch.fake_quantize_per_tensor_affine(b, float(scale), int(zero), obs.quant_min, obs.quant_max)
    else:
        ref = torch.fake_quantize_per_channel_affine(b, scale, zero.to(torch.int32), axis, obs.quant_min,
                                                     obs.quant_max)
    (ref * torch.arange(33.0)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=0, atol=1e-5 * np.abs(x).max())
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_straight_through_estimator_blocks_gradients_outside_the_range():
    """Symmetric: the range comes from x itself, nothing is clipped, every gradient passes. Asymmetric 2 bits
    on [-1.5, 1.5]: scale 1, zero point round(1.5) = 2, so 1.5 maps to round(1.5) + 2 = 4 > qmax = 3: clipped
    to 1.0, and its gradient is blocked, as in torch.fake_quantize_per_tensor_affine."""
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0], requires_grad=True)
    Q.fake_quantize(x, bits=8, symmetric=True).backward(torch.ones(4))
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]
    values = [-1.5, 0.0, 0.4, 1.5]
    a, b = torch.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out = Q.fake_quantize(a, bits=2, symmetric=False)
    ref = torch.fake_quantize_per_tensor_affine(b, 1.0, 2, 0, 3)
    out.backward(torch.ones(4))
    ref.backward(torch.ones(4))
    assert out.tolist() == ref.tolist() == [-2.0, 0.0, 0.0, 1.0]
    assert a.grad.tolist() == b.grad.tolist() == [1.0, 1.0, 1.0, 0.0]
    z = torch.zeros(3, requires_grad=True)  # an all-zero tensor: any scale represents it exactly
    Q.fake_quantize(z, bits=2, symmetric=False).backward(torch.ones(3))
    assert z.grad.tolist() == [1.0, 1.0, 1.0]


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_quantize_weights_makes_ptq_and_qat_models():
    """2 bits, symmetric, per channel: each row w becomes s * clip(round(w / s), -1, 1) with s = max |w|, so
    its levels are -s, 0 and +s, with +-s present (all-zero weights fail). Trained, the copy learns (its
    full-precision weights move and its loss drops); the original model is left alone."""
    tk.setup(0)
    torch.manual_seed(0)
    model = tk.cnn.mlp([8, 16, 3])
    q = Q.quantize_weights(model, 2)
    for layer, orig in zip(_linears(q), _linears(model)):
        w = orig.weight.detach().double()
        s = w.abs().amax(1, keepdim=True)
        w_hat = layer.weight.detach().double()
        torch.testing.assert_close(w_hat, s * torch.clamp(torch.round(w / s), -1, 1), rtol=1e-6, atol=0)  # float32
        for row, s_row in zip(w_hat, s):
            levels = set(row.abs().tolist())
            assert levels <= {0.0, float(s_row)} and float(s_row) in levels and len(torch.unique(row)) <= 3
        assert torch.all((w_hat - w).abs() <= s / 2 * (1 + 1e-6))
    g = torch.Generator().manual_seed(0)
    X = torch.randn(256, 8, generator=g)
    y = (X @ torch.randn(8, 3, generator=g)).argmax(1)  # a task that a linear map solves

    def loss(m):
        with torch.no_grad():
            return float(F.cross_entropy(m(X), y))

    before = model[0].weight.detach().clone()
    w0 = q[0].parametrizations.weight.original.detach().clone()
    start = loss(q)
    tk.fit(q, (X, y), epochs=20, loss="cross_entropy", show_progress=False)
    assert torch.equal(model[0].weight, before)  # the original is untouched
    assert (q[0].parametrizations.weight.original - w0).abs().max() > 0.05  # 20 Adam steps of lr 1e-2: 0.21
    assert loss(q) < 0.75 * start, (start, loss(q))  # measured: 1.16 -> 0.64
    assert len(torch.unique(q[0].weight[0])) <= 3  # and the trained copy still computes with 2-bit weights
    with pytest.raises(ValueError, match="no nn.Linear"):
        Q.quantize_weights(nn.ReLU(), 8)


@pytest.mark.parametrize("symmetric, per_channel", [(True, False), (False, True), (False, False), (True, True)])
def test_quantize_weights_options_equal_torch_fake_quantize(symmetric, per_channel):
    """Every combination of symmetric and per_channel against torch.fake_quantize_*_affine with torch.ao's
    observers' parameters, at 4 bits (float32: 1e-6 relative to max |w|); per tensor, a layer has at most
    2^4 levels in all; per channel, each row has its own."""
    torch.manual_seed(1)
    model = tk.cnn.mlp([8, 16, 3])
    q = Q.quantize_weights(model, 4, symmetric=symmetric, per_channel=per_channel)
    for layer, orig in zip(_linears(q), _linears(model)):
        w = orig.weight.detach()
        obs = _observer(4, symmetric, 0 if per_channel else None)
        obs(w)
        scale, zero = obs.calculate_qparams()
        if per_channel:
            ref = torch.fake_quantize_per_channel_affine(w, scale, zero.to(torch.int32), 0, obs.quant_min,
                                                         obs.quant_max)
        else:
            ref = torch.fake_quantize_per_tensor_affine(w, float(scale), int(zero), obs.quant_min, obs.quant_max)
            assert len(torch.unique(layer.weight)) <= 16
        torch.testing.assert_close(layer.weight, ref, rtol=0, atol=1e-6 * float(w.abs().max()))
        assert not torch.equal(layer.weight, w)


@pytest.mark.parametrize("bits, error", [(1, ValueError), (16, ValueError), (8.0, TypeError), (True, TypeError)])
def test_unsupported_bit_widths_are_refused(bits, error):
    with pytest.raises(error, match="bits must be"):
        Q.choose_qparams(np.ones(3), bits=bits)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one value to calibrate on"):
        Q.choose_qparams(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="axis must be <= 1, got 2"):
        Q.choose_qparams(np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match="q must hold integers"):
        Q.dequantize(np.ones(3), Q.choose_qparams(np.ones(3)))
    with pytest.raises(TypeError, match="qp must be QParams"):
        Q.quantize(np.ones(3), (0.1, 0))


def test_binary_and_ternary_weights():
    w = np.array([-2.0, -0.1, 0.05, 0.3, 1.5])
    b = Q.binarize(w)
    assert set(np.abs(b)) == {np.abs(w).mean()} and np.all(np.sign(b) == np.where(w >= 0, 1, -1))
    t = Q.ternarize(w)
    delta = 0.7 * np.abs(w).mean()
    assert np.all(t[np.abs(w) <= delta] == 0) and len(set(np.abs(t[t != 0]))) == 1
    np.testing.assert_allclose(t, [-1.75, 0, 0, 0, 1.75])  # delta = 0.553: alpha = mean(2.0, 1.5)
    assert np.all(Q.ternarize(w, delta_factor=10.0) == 0)


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_binary_and_ternary_keep_kind_and_dtype(np_dtype):
    w = np.random.default_rng(5).normal(size=(6, 9)).astype(np_dtype)
    torch_dtype = torch.from_numpy(w).dtype
    for f in (Q.binarize, Q.ternarize):
        a, t = f(w), f(torch.from_numpy(w))
        assert isinstance(a, np.ndarray) and a.dtype == np_dtype and a.shape == w.shape
        assert isinstance(t, torch.Tensor) and t.dtype == torch_dtype and t.shape == w.shape
        np.testing.assert_allclose(t.numpy(), a, rtol=1e-6)
        assert f(torch.empty(3, 4, device="meta")).device.type == "meta"
    assert Q.binarize(w.astype(int)).dtype == np.float64


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), bits=st.sampled_from(Q.SUPPORTED_BITS),
       symmetric=st.booleans(), axis=st.sampled_from([None, 0, 1, -1]),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16))
def test_fake_quantize_keeps_dtype_and_lands_on_the_grid(rows, cols, bits, symmetric, axis, dtype, seed):
    x = torch.randn(rows, cols, dtype=dtype, generator=torch.Generator().manual_seed(seed)) * 3
    x.requires_grad_(True)
    out = Q.fake_quantize(x, bits=bits, symmetric=symmetric, axis=axis)
    assert out.dtype == dtype and out.shape == x.shape and out.device == x.device
    out.sum().backward()
    assert x.grad.dtype == dtype
    step, zero, qmin, qmax = _reference(x.detach().double().numpy(), bits, symmetric, axis)
    err = np.abs(out.detach().double().numpy() - x.detach().double().numpy())
    eps = 1e-5 if dtype == torch.float32 else 1e-12  # float32 ulp 1.2e-7 and float64 2.2e-16, times up to 2^8
    assert np.all(err <= step * (0.5 + eps))  # within half a step
    codes = out.detach().double().numpy() / step + zero
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3 if dtype == torch.float32 else 1e-8)
    assert codes.min() >= qmin - 1e-3 and codes.max() <= qmax + 1e-3
    if dtype == torch.float64:  # the definition's values, not only some point of the grid
        np.testing.assert_allclose(out.detach().numpy(), _ref_fake_quantize(x.detach().numpy(), bits, symmetric, axis),
                                   rtol=0, atol=1e-12 * float(x.detach().abs().max()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantize_weights_keeps_dtype_and_device(dtype):
    model = tk.cnn.mlp([5, 7, 3]).to(dtype)
    q = Q.quantize_weights(model, 4)
    assert {p.dtype for p in q.parameters()} == {dtype} and q(torch.randn(2, 5, dtype=dtype)).dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    for layer, orig in zip(_linears(q), _linears(model)):
        w = orig.weight.detach().double().numpy()
        np.testing.assert_allclose(layer.weight.detach().double().numpy(), _ref_fake_quantize(w, 4, True, 0),
                                   rtol=0, atol=tol * np.abs(w).max())
    meta = Q.quantize_weights(model.to("meta"), 4)
    assert meta(torch.empty(2, 5, device="meta", dtype=dtype)).device.type == "meta"


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_dequantize_returns_the_calibrated_dtype(np_dtype):
    x = _x(8).astype(np_dtype)
    for axis in (None, 0):
        qp = Q.choose_qparams(x, bits=8, axis=axis)
        assert Q.dequantize(Q.quantize(x, qp), qp).dtype == np_dtype
    qp = Q.choose_qparams(torch.from_numpy(x), bits=8)
    assert Q.dequantize(Q.quantize(x, qp), qp).dtype == np_dtype


def test_qat_backward_runs_through_the_quantized_weights():
    """The gradient that reaches a QAT layer's input is computed with the quantized weights W_hat,
    not with the float weights W; W's own gradient equals the gradient with respect to W_hat (STE)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4, bias=False))
    q = Q.quantize_weights(model, 2)
    w_hat = q[0].weight.detach()
    w = q[0].parametrizations.weight.original
    s = w.detach().abs().amax(1, keepdim=True)  # 2 bits, symmetric, per row: levels -s, 0, +s
    torch.testing.assert_close(w_hat, s * torch.clamp(torch.round(w.detach() / s), -1, 1), rtol=1e-6, atol=0)
    assert not torch.allclose(w_hat, w)
    x = torch.randn(3, 6, requires_grad=True)
    g = torch.randn(3, 4)
    q(x).backward(g)
    torch.testing.assert_close(x.grad, g @ w_hat)
    assert not torch.allclose(x.grad, g @ w.detach(), atol=1e-3)
    torch.testing.assert_close(w.grad, g.T @ x.detach())  # dL/dW_hat, handed to W unchanged


_X = torch.randn(4, 5)
BAD_CALLS = [
    (lambda: Q.fake_quantize(torch.tensor([1.0, float("nan")])), ValueError, "x must be finite"),
    (lambda: Q.fake_quantize(torch.tensor([1.0, float("inf")]), axis=0), ValueError, "x must be finite"),
    (lambda: Q.fake_quantize(torch.tensor([[1.0, 2.0], [float("nan"), 0.0]]), axis=1), ValueError, "x must be finite"),
    (lambda: Q.fake_quantize(torch.ones(3, dtype=torch.int64)), TypeError, "x must be a floating-point tensor"),
    (lambda: Q.fake_quantize(np.ones(3)), TypeError, "x must be a torch tensor"),
    (lambda: Q.fake_quantize(torch.ones(0)), ValueError, "x must hold at least one value"),
    (lambda: Q.fake_quantize(_X, axis=0.5), TypeError, "axis must be an integer"),
    (lambda: Q.fake_quantize(_X, axis=2), ValueError, "axis must be <= 1, got 2"),
    (lambda: Q.fake_quantize(_X, bits=4.5), TypeError, "bits must be an integer"),
    (lambda: Q.fake_quantize(_X, bits=-8), ValueError, "bits must be one of"),
    (lambda: Q.fake_quantize(_X, symmetric="yes"), TypeError, "symmetric must be True or False"),
    (lambda: Q.choose_qparams(np.ones((2, 3)), axis=1.0), TypeError, "axis must be an integer"),
    (lambda: Q.choose_qparams(np.ones((2, 3)), axis=True), TypeError, "axis must be an integer"),
    (lambda: Q.choose_qparams(np.ones((2, 3)), symmetric=1), TypeError, "symmetric must be True or False"),
    (lambda: Q.choose_qparams(np.array([1.0, np.nan])), ValueError, "x must be finite"),
    (lambda: Q.choose_qparams(np.array(["a"])), TypeError, "x must hold numbers"),
    (lambda: Q.quantize(np.ones((3, 3)), Q.choose_qparams(np.ones((2, 3)), axis=0)), ValueError,
     "x must have 2 entries along axis 0"),
    (lambda: Q.dequantize(np.ones((3, 3), dtype=int), Q.choose_qparams(np.ones((2, 3)), axis=0)), ValueError,
     "q must have 2 entries along axis 0"),
    (lambda: Q.dequantize(np.ones(3, dtype=int), (0.1, 0)), TypeError, "qp must be QParams"),
    (lambda: Q.int_range(8, "no"), TypeError, "symmetric must be True or False"),
    (lambda: Q.binarize(np.array([1.0, np.nan])), ValueError, "w must be finite"),
    (lambda: Q.binarize(np.zeros(0)), ValueError, "w must hold at least one weight"),
    (lambda: Q.ternarize(torch.tensor([float("inf")])), ValueError, "w must be finite"),
    (lambda: Q.ternarize(np.ones(3), delta_factor=-0.7), ValueError, "delta_factor must be >= 0"),
    (lambda: Q.ternarize(np.ones(3), delta_factor=float("nan")), ValueError, "delta_factor must be >= 0"),
    (lambda: Q.quantize_weights(tk.cnn.mlp([3, 2]), 8, per_channel=0), TypeError, "per_channel must be True or False"),
    (lambda: Q.quantize_weights("model", 8), TypeError, "model must be a torch.nn.Module"),
    (lambda: deploy.torch_dynamic_int8(tk.cnn.mlp([3, 2]).double()), TypeError, "model must have float32 parameters"),
    (lambda: deploy.torch_static_int8(tk.cnn.mlp([3, 2]), np.full((4, 3), np.nan)), ValueError,
     "calibration must be finite"),
    (lambda: deploy.export_onnx(tk.cnn.mlp([3, 2]), "unused.onnx", 2.5), TypeError, "n_features must be an integer"),
    (lambda: deploy.export_onnx(tk.cnn.mlp([3, 2]), "unused.onnx", 0), ValueError, "n_features must be >= 1"),
    (lambda: deploy.export_onnx(tk.cnn.mlp([3, 2]), 3, 3), TypeError, "path must be a file path"),
    (lambda: deploy.OnnxModel(None), TypeError, "path must be a file path"),
    (lambda: deploy.OnnxModel("no-such-file.onnx"), ValueError, "path must name an existing file"),
    (lambda: deploy.onnx_dynamic_int8("no-such-file.onnx", "out.onnx"), ValueError, "src must name an existing file"),
    (lambda: deploy.file_bytes(3), TypeError, "path must be a file path"),
    (lambda: deploy.torch_static_int8(tk.cnn.mlp([3, 2]), np.ones((4, 5))), ValueError, "calibration must have 3 columns"),
    (lambda: deploy.torch_static_int8(tk.cnn.mlp([3, 2]), np.ones((1, 4, 3))), ValueError,
     r"calibration must be a non-empty \(batch, features\)"),
]


@pytest.mark.parametrize("k", range(len(BAD_CALLS)))
def test_bad_input_is_refused_with_a_message_naming_the_argument(k):
    call, error, message = BAD_CALLS[k]
    with pytest.raises(error, match=message):
        call()


def test_converters_leave_the_callers_model_alone():
    model = tk.cnn.mlp([3, 4, 2]).train()
    deploy.torch_dynamic_int8(model)
    assert model.training  # quantize_dynamic on model.cpu().eval() used to switch the caller's model to eval


# --- deployment formats -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    tk.setup(0)
    d = tk.data.digits(seed=0)
    torch.manual_seed(0)
    model = tk.cnn.mlp([64, 128, 128, 10])
    tk.fit(model, (d.X_train, d.y_train), epochs=5, loss="cross_entropy", lr=1e-3, batch_size=64,
           show_progress=False)
    return model.eval(), d


def _agree(a, b):
    return float(np.mean(np.argmax(a, 1) == np.argmax(b, 1)))


def test_torch_int8_models_are_smaller_and_agree(trained):
    from troikadl.compress import measure

    model, d = trained
    ref = tk.predict(model, d.X_test)
    dyn = deploy.torch_dynamic_int8(model)
    sta = deploy.torch_static_int8(model, d.X_train[:256])
    x = torch.as_tensor(d.X_test, dtype=torch.float32)
    for q in (dyn, sta):
        assert measure.saved_bytes(q) < measure.saved_bytes(model) / 2.5  # small model: scales and zero points add up
        assert _agree(q(x).numpy(), ref) > 0.97
    with pytest.raises(ValueError, match=r"calibration must be a non-empty \(batch, features\)"):
        deploy.torch_static_int8(model, np.zeros((0, 64)))


def test_onnx_export_matches_torch_and_ort_int8_is_smaller(trained, tmp_path):
    model, d = trained
    path = deploy.export_onnx(model, tmp_path / "m.onnx", 64)
    onnx_model = deploy.OnnxModel(path)
    np.testing.assert_allclose(onnx_model(d.X_test), tk.predict(model, d.X_test), atol=1e-4)
    assert not (tmp_path / "m.onnx.data").exists()
    q8 = deploy.OnnxModel(deploy.onnx_dynamic_int8(path, tmp_path / "m8.onnx"))
    assert q8.bytes < onnx_model.bytes / 3 and _agree(q8(d.X_test), onnx_model(d.X_test)) > 0.97
    with pytest.raises(ValueError, match="X must have 64 columns"):
        onnx_model(d.X_test[:, :10])
    with pytest.raises(ValueError, match="X must be a non-empty"):
        onnx_model(d.X_test[0])
    for bad, error in ((d.X_test.astype(complex), TypeError), (d.X_test > 0, TypeError),
                       (np.full_like(d.X_test, np.nan), ValueError), (d.X_test.astype(str), TypeError)):
        with pytest.raises(error, match="X must"):
            onnx_model(bad)
    with pytest.raises(TypeError, match="dst must be a file path"):
        deploy.onnx_dynamic_int8(path, 3)


@pytest.mark.tf
def test_tflite_float_matches_keras_and_int8_agrees(trained):
    model, d = trained
    keras_model = tk.cnn.mlp_keras([64, 128, 128, 10])
    tk.cnn.copy_to_keras(model, keras_model, (64,))
    k_out = keras_model.predict(d.X_test.astype(np.float32), verbose=0)
    np.testing.assert_allclose(k_out, tk.predict(model, d.X_test), atol=1e-4)
    fp32 = deploy.TFLiteModel(deploy.tflite_convert(keras_model))
    np.testing.assert_allclose(fp32(d.X_test), k_out, atol=1e-4)
    int8 = deploy.TFLiteModel(deploy.tflite_convert(keras_model, d.X_train[:256]))
    assert int8.bytes < fp32.bytes / 2.5 and _agree(int8(d.X_test), k_out) > 0.95
    assert int8.interpreter.get_input_details()[0]["dtype"] == np.int8
    with pytest.raises(ValueError, match=r"representative must be a non-empty \(batch, features\)"):
        deploy.tflite_convert(keras_model, np.zeros((0, 64)))
    with pytest.raises(TypeError, match="keras_model must be a Keras model"):
        deploy.tflite_convert("model")
    with pytest.raises(ValueError, match="representative must have 64 columns"):
        deploy.tflite_convert(keras_model, d.X_train[:8, :10])
    with pytest.raises(TypeError, match="X must hold real numbers"):
        int8(d.X_test > 0)
    with pytest.raises(TypeError, match="flatbuffer must be"):
        deploy.TFLiteModel(b"")


# --- against TensorFlow -------------------------------------------------------------------------------------
@pytest.mark.tf
@pytest.mark.parametrize("symmetric", [False, True])
def test_fake_quantize_equals_tensorflows(symmetric):
    """tf.quantization.fake_quant_with_min_max_args with our range (asymmetric: [0, 255]; symmetric:
    narrow_range, 255 levels centred on zero): same values and the same straight-through gradient."""
    tf = tk.import_tf()
    x = _x(7).astype(np.float32)
    scale, zero, qmin, qmax = _reference(x, 8, symmetric)
    lo, hi = float((qmin - zero) * scale), float((qmax - zero) * scale)
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        ref = tf.quantization.fake_quant_with_min_max_args(xt, min=lo, max=hi, num_bits=8, narrow_range=symmetric)
        weighted = tf.reduce_sum(ref * tf.range(33, dtype=tf.float32))
    ref_grad = tape.gradient(weighted, xt).numpy()
    a = torch.tensor(x, requires_grad=True)
    ours = Q.fake_quantize(a, bits=8, symmetric=symmetric)
    (ours * torch.arange(33.0)).sum().backward()
    np.testing.assert_allclose(ours.detach().numpy(), ref.numpy(), atol=1e-5 * (hi - lo))
    # at the two extreme values TF's float32 range test can fall either side of the boundary: compare the rest
    inner = (x > lo + 1e-6 * (hi - lo)) & (x < hi - 1e-6 * (hi - lo))
    assert inner.sum() >= x.size - 2
    np.testing.assert_array_equal(a.grad.numpy()[inner], ref_grad[inner])
