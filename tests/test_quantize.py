"""Chapter 10: affine quantization (vs torch's quantized tensors), fake quantization, and deployment formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import troikadl as tk
from troikadl.compress import deploy
from troikadl.compress import quantize as Q

pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions")


def _x(seed=0, shape=(16, 33)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * rng.uniform(0.1, 3, size=(shape[0], 1)) + 0.3


# --- the quantizer ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", Q.SUPPORTED_BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("axis", [None, 0])
def test_round_trip_error_is_at_most_half_a_step(bits, symmetric, axis):
    x = _x(bits)
    qp = Q.choose_qparams(x, bits=bits, symmetric=symmetric, axis=axis)
    q = Q.quantize(x, qp)
    assert q.min() >= qp.qmin and q.max() <= qp.qmax
    err = np.abs(Q.dequantize(q, qp) - x)
    step = qp.scale if axis is None else qp.scale[:, None]
    assert np.all(err <= step / 2 + 1e-12)


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
    tq = torch.quantize_per_tensor(torch.tensor(x, dtype=torch.float32), float(qp.scale), int(qp.zero_point),
                                   torch.quint8)
    np.testing.assert_array_equal(tq.int_repr().numpy().astype(np.int64), Q.quantize(x, qp))


def test_per_channel_symmetric_equals_torch_qint8():
    x = _x(2)
    qp = Q.choose_qparams(x, bits=8, symmetric=True, axis=0)
    assert qp.scale.shape == (16,) and np.all(qp.zero_point == 0)
    tq = torch.quantize_per_channel(torch.tensor(x, dtype=torch.float32), torch.tensor(qp.scale),
                                    torch.tensor(qp.zero_point), 0, torch.qint8)
    np.testing.assert_array_equal(tq.int_repr().numpy().astype(np.int64), Q.quantize(x, qp))
    # per-channel scales follow each row's own range
    np.testing.assert_allclose(qp.scale, np.abs(x).max(1) / 127)


def test_per_channel_is_never_worse_than_per_tensor_on_uneven_rows():
    x = _x(3)
    errs = {}
    for axis in (None, 0):
        qp = Q.choose_qparams(x, bits=4, symmetric=True, axis=axis)
        errs[axis] = np.mean((Q.dequantize(Q.quantize(x, qp), qp) - x) ** 2)
    assert errs[0] < errs[None]


@pytest.mark.parametrize("symmetric, axis", [(False, None), (True, None), (True, 0), (False, 1)])
def test_fake_quantize_forward_and_gradient_equal_torch(symmetric, axis):
    x = _x(4)
    qp = Q.choose_qparams(x, bits=4, symmetric=symmetric, axis=axis)
    a = torch.tensor(x, requires_grad=True)
    out = Q.fake_quantize(a, bits=4, symmetric=symmetric, axis=axis)
    np.testing.assert_allclose(out.detach().numpy(), Q.dequantize(Q.quantize(x, qp), qp), atol=1e-12)
    (out * torch.arange(33.0, dtype=torch.float64)).sum().backward()
    b = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    if axis is None:
        ref = torch.fake_quantize_per_tensor_affine(b, float(qp.scale), int(qp.zero_point), qp.qmin, qp.qmax)
    else:
        ref = torch.fake_quantize_per_channel_affine(b, torch.tensor(qp.scale, dtype=torch.float32),
                                                     torch.tensor(qp.zero_point, dtype=torch.int32), axis,
                                                     qp.qmin, qp.qmax)
    (ref * torch.arange(33.0)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-5)
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_straight_through_estimator_blocks_gradients_outside_the_range():
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0], requires_grad=True)
    y = Q.fake_quantize(x, bits=8, symmetric=True)
    y.backward(torch.ones(4))
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]  # the range comes from x itself: nothing is outside


def test_quantize_weights_makes_ptq_and_qat_models():
    tk.setup(0)
    torch.manual_seed(0)
    model = tk.cnn.mlp([8, 16, 3])
    q = Q.quantize_weights(model, 2)
    for layer in [m for m in q.modules() if isinstance(m, nn.Linear)]:
        assert len(torch.unique(layer.weight[0])) <= 3  # 2 bits, restricted: -1, 0, +1 times the scale
    X, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    before = model[0].weight.detach().clone()
    tk.fit(q, (X, y), epochs=2, loss="cross_entropy", show_progress=False)
    assert torch.equal(model[0].weight, before)  # the original is untouched; the copy learned
    with pytest.raises(ValueError, match="no nn.Linear"):
        Q.quantize_weights(nn.ReLU(), 8)


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
    qp = Q.choose_qparams(x.detach().double().numpy(), bits=bits, symmetric=symmetric, axis=axis)
    step = qp.scale if axis is None else qp._shape(qp.scale, 2)
    err = np.abs(out.detach().double().numpy() - x.detach().double().numpy())
    eps = 1e-5 if dtype == torch.float32 else 1e-12
    assert np.all(err <= step * (0.5 + eps))  # within half a step (the range is x's own: nothing clipped)
    zero = qp.zero_point if axis is None else qp._shape(qp.zero_point, 2)
    codes = out.detach().double().numpy() / step + zero
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3 if dtype == torch.float32 else 1e-8)
    assert codes.min() >= qp.qmin - 1e-3 and codes.max() <= qp.qmax + 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantize_weights_keeps_dtype_and_device(dtype):
    model = tk.cnn.mlp([5, 7, 3]).to(dtype)
    q = Q.quantize_weights(model, 4)
    assert {p.dtype for p in q.parameters()} == {dtype} and q(torch.randn(2, 5, dtype=dtype)).dtype == dtype
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
    qp = Q.choose_qparams(x, bits=8, symmetric=symmetric)
    lo, hi = float((qp.qmin - qp.zero_point) * qp.scale), float((qp.qmax - qp.zero_point) * qp.scale)
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
