"""Tests that kill the mutants of autograd.py, optim/, conv.py and compress/quantize.py that the rest of the suite
let survive.

`make mutation` (mutmut) changes one operator, constant or argument at a time and runs the fast tests; each
test here was added for a change that no other test noticed: the gradient of ReLU at exactly 0, the axis
of ``mean``, the dtype of constants and losses in float32, the messages that name a bad argument, and the
hyper-parameters an optimizer records. Expected values come from PyTorch (float64 unless the point is
float32) or are written out by hand.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from troikadl.autograd import Tensor, cross_entropy, mse, unbroadcast
from troikadl.optim import SGD, AdaGrad, Adam, AdamW, RMSProp

TOL = 1e-12  # float64
TOL32 = 1e-6  # float32, values of order 1


# --- autograd: values and gradients against torch -------------------------------------------------

def test_relu_gradient_at_exactly_zero_is_zero_like_torch():
    a = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])
    x, tx = Tensor(a), torch.tensor(a, requires_grad=True)
    x.relu().sum().backward()
    torch.relu(tx).sum().backward()
    assert x.grad.tolist() == tx.grad.numpy().tolist() == [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean_over_one_axis_equal_torch(op, axis, keepdims):
    rng = np.random.default_rng([axis + 2, keepdims])
    a = rng.normal(size=(3, 4))  # not square: a gradient summed over the wrong axis has the wrong shape
    w = rng.normal(size=np.sum(a, axis=axis, keepdims=keepdims).shape)  # a random upstream gradient
    x, tx = Tensor(a), torch.tensor(a, requires_grad=True)
    out, tout = getattr(x, op)(axis=axis, keepdims=keepdims), getattr(tx, op)(dim=axis, keepdim=keepdims)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=TOL, rtol=0)
    (out * w).sum().backward()
    (tout * torch.as_tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("axis", [0, 1, -2])
def test_log_softmax_over_either_axis_equals_torch(axis):
    a = np.random.default_rng(3).normal(size=(3, 4))
    w = np.random.default_rng(4).normal(size=(3, 4))
    x, tx = Tensor(a), torch.tensor(a, requires_grad=True)
    out, tout = x.log_softmax(axis=axis), torch.log_softmax(tx, dim=axis)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=TOL, rtol=0)
    (out * w).sum().backward()
    (tout * torch.as_tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=TOL, rtol=0)


def test_log_softmax_of_large_logits_is_finite_and_equals_torch():
    """Rows far apart (1000 and more): each row must be shifted by its own maximum, downwards, or exp overflows."""
    a = np.array([[0.0, 1.0, -2.0], [1000.0, 1001.0, 998.0], [-1000.0, -999.5, -1003.0]])
    w = np.random.default_rng(5).normal(size=a.shape)
    x, tx = Tensor(a), torch.tensor(a, requires_grad=True)
    out, tout = x.log_softmax(), torch.log_softmax(tx, dim=-1)
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=TOL, rtol=0)
    (out * w).sum().backward()
    (tout * torch.as_tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=TOL, rtol=0)


def test_a_shared_intermediate_result_passes_its_gradient_back_once():
    """``h`` feeds two operations: backward must visit it once, with both contributions summed (a diamond)."""
    a = np.array([[0.3, -1.2], [0.8, 0.1]])
    x, tx = Tensor(a), torch.tensor(a, requires_grad=True)
    h, th = (x * 2.0).tanh(), torch.tanh(tx * 2.0)
    ((h * h + h) @ h).sum().backward()
    ((th * th + th) @ th).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("method", ["mean", "sum", "log_softmax"])
@pytest.mark.parametrize("axis, words", [(2, r"^axis must be <= 1, got 2$"), (-3, r"^axis must be >= -2, got -3$")])
def test_an_axis_out_of_range_raises_naming_axis(method, axis, words):
    with pytest.raises(ValueError, match=words):
        getattr(Tensor(np.ones((2, 3))), method)(axis=axis)


def test_float32_constants_and_losses_stay_float32():
    a = np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]], dtype=np.float32)
    x = Tensor(a)
    assert (x - 1.5).data.dtype == np.float32 and (x - 1.5).data.tolist() == (a - np.float32(1.5)).tolist()
    x = Tensor(a)
    loss = cross_entropy(x, np.array([2, 0]))
    loss.backward()
    tx = torch.tensor(a, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor([2, 0]))
    tloss.backward()
    assert loss.data.dtype == np.float32 and x.grad.dtype == np.float32
    assert abs(float(loss.data) - tloss.item()) <= TOL32
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=TOL32, rtol=0)
    p = Tensor(np.array(2.0, dtype=np.float32))  # a 0-d prediction and a Python int target
    assert mse(p, 0).data.dtype == np.float32 and float(mse(p, 0).data) == 4.0


def test_only_tensors_marked_as_parameters_require_grad():
    """Like torch.tensor: ``requires_grad`` is False unless asked for, and an operation's output is not a parameter."""
    x, w = Tensor(np.ones(2)), Tensor(np.ones(2), requires_grad=True)
    assert x.requires_grad is False and w.requires_grad is True and (x * w).requires_grad is False


def test_an_operation_s_output_names_it_in_its_repr():
    x = Tensor(np.ones(2))
    assert repr(x) == "Tensor(shape=(2,), dtype=float64)"
    for op in ("relu", "tanh", "sigmoid", "log_softmax"):
        assert repr(getattr(x, op)()) == f"Tensor(shape=(2,), dtype=float64, op='{op}')"
    assert repr(x ** 3) == "Tensor(shape=(2,), dtype=float64, op='pow 3')"
    row, col = Tensor(np.ones((1, 2))), Tensor(np.ones((2, 1)))
    for expr, op in ((x + x, "add"), (x * x, "mul"), (x.sum(), "sum"), (row @ col, "matmul")):
        assert repr(expr).endswith(f", op='{op}')"), repr(expr)


def test_unbroadcast_accepts_any_sequence_of_non_negative_integers():
    g = np.random.default_rng(6).normal(size=(4, 2, 3))
    expected = g.sum(axis=0).sum(axis=0, keepdims=True)  # the 4 copies, then the stretched axis of size 1
    for shape in ([1, 3], (np.int64(1), 3), (1, np.int32(3))):
        out = unbroadcast(g, shape)
        assert out.shape == (1, 3) and np.abs(out - expected).max() <= TOL
    assert unbroadcast(np.ones((2, 0, 3)), [0, 3]).shape == (0, 3)  # an empty axis is a valid size


# --- autograd: bad input names the argument and what was expected ---------------------------------

@pytest.mark.parametrize("call, error, words", [
    (lambda: Tensor(np.ones(2)) ** "2", TypeError,
     r"^k \(the exponent, a constant int or float\) must be a real number"),
    (lambda: cross_entropy(np.ones((2, 3)), [0, 1]), TypeError,
     r"^logits must be an autograd Tensor of shape \(n, classes\), got"),
    (lambda: cross_entropy(Tensor(np.ones(3)), [0, 1, 2]), ValueError,
     r"^logits must be 2-D \(samples, classes\), got shape \(3,\)$"),
    (lambda: mse(np.ones(2), np.ones(2)), TypeError, r"^pred must be an autograd Tensor, got"),
    (lambda: mse(Tensor(np.ones(2)), np.array([1, 2])), TypeError, r"^target must be floating point"),
    (lambda: mse(Tensor(np.ones(2)), np.array([np.nan, 1.0])), ValueError,
     r"^target must be finite, but it holds NaN or infinity$"),
    (lambda: Tensor(np.ones(3)) * np.arange(3), TypeError, r"^other must be floating point .*got dtype int64"),
    (lambda: Tensor(np.ones(3)).tanh().backward(np.arange(3)), TypeError, r"^grad must be floating point"),
    (lambda: Tensor(np.ones(3)).tanh().backward(np.ones(2)), ValueError,
     r"^grad must have this tensor's shape \(3,\), got \(2,\)$"),
    (lambda: unbroadcast(np.ones((2, 3)), "ab"), TypeError, r"^shape must be a tuple of ints, got str 'ab'$"),
    (lambda: unbroadcast(np.ones((2, 3)), (-1, 3)), ValueError, r"^shape\[0\] must be >= 0, got -1$"),
    (lambda: unbroadcast(np.ones((2, 3)), [2, 3.0]), TypeError, r"^shape\[1\] must be an integer"),
    (lambda: unbroadcast(np.ones((2, 3)), (4,)), ValueError,
     r"^grad of shape \(2, 3\) cannot come from broadcasting shape \(4,\)$"),
    (lambda: unbroadcast(np.arange(3), (3,)), TypeError, r"^grad must be floating point"),
])
def test_autograd_bad_input_messages(call, error, words):
    with pytest.raises(error, match=words):
        call()


# --- optim ------------------------------------------------------------------------------------------

def test_optimizers_record_their_checked_hyper_parameters():
    p = [Tensor(np.zeros(2))]
    assert SGD(p, lr=0.1, momentum=0).hyper == {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0}
    assert RMSProp(p).hyper == {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "weight_decay": 0.0}
    assert AdaGrad(p).hyper == {"lr": 1e-2, "initial_accumulator_value": 0.0, "eps": 1e-10, "weight_decay": 0.0}
    assert AdaGrad(p, convention="keras").hyper == {"lr": float(np.float32(1e-3)), "initial_accumulator_value": 0.1,
                                                    "eps": 1e-7, "weight_decay": 0.0}
    assert type(AdaGrad(p, initial_accumulator_value=1).initial_accumulator_value) is float
    assert Adam(p, betas=(0, 0), eps=1).hyper == {"lr": 1e-3, "beta1": 0.0, "beta2": 0.0, "eps": 1.0,
                                                 "weight_decay": 0.0}
    for opt in (SGD(p, lr=0.1, momentum=0), Adam(p, betas=(0, 0), eps=1)):
        assert all(type(v) is float for v in opt.hyper.values()), opt.hyper  # checked numbers become floats


def test_an_optimizer_s_repr_lists_its_hyper_parameters():
    opt = SGD([Tensor(np.zeros(2))], lr=0.1, momentum=0.9)
    assert repr(opt) == "SGD(lr=0.1, momentum=0.9, weight_decay=0, convention='torch')"
    assert repr(Adam([Tensor(np.zeros(2))], convention="keras")).startswith("Adam(lr=0.001, beta1=0.9, ")


def test_an_optimizer_can_be_deep_copied_and_the_copy_steps_alike():
    p = Tensor(np.array([1.0, -2.0]))
    opt = Adam([p], lr=0.1)
    p.grad = np.array([0.5, 0.25])
    opt.step()
    twin = copy.deepcopy(opt)  # copies its parameter too: a checkpoint
    for o in (opt, twin):
        o.params[0].grad = np.array([-1.0, 2.0])
        o.step()
    assert twin.params[0] is not p and twin.params[0].data.tolist() == p.data.tolist()
    with pytest.raises(AttributeError, match="^beta3$"):
        opt.beta3


def test_a_nan_in_the_first_of_several_gradients_is_caught():
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt = SGD([a, b], lr=0.1)
    a.grad, b.grad = np.array([np.nan, 1.0]), np.ones(2)
    with pytest.raises(ValueError, match=r"^params\[0\].grad holds NaN or infinity"):
        opt.step()
    assert a.data.tolist() == b.data.tolist() == [1.0, 1.0]


def test_the_state_of_a_float32_parameter_stays_float32():
    """A float64 gradient of a float32 parameter is cast to float32 first, as torch keeps one dtype per parameter."""
    for make, keys in ((lambda ps: SGD(ps, lr=0.1, momentum=0.9), ["momentum"]),
                       (lambda ps: RMSProp(ps), ["v"]), (lambda ps: Adam(ps), ["m", "v"]),
                       (lambda ps: AdaGrad(ps, initial_accumulator_value=0.1), ["sum"])):
        p = Tensor(np.ones(3, dtype=np.float32))
        opt = make([p])
        p.grad = np.array([0.1, -0.2, 0.3])  # float64
        opt.step()
        assert p.data.dtype == np.float32 and all(opt.state[0][k].dtype == np.float32 for k in keys), keys


class _Param:
    def __init__(self, data):
        self.data, self.grad = data, None


@pytest.mark.parametrize("make, error, words", [
    (lambda p: Adam(p, betas={0.9, 0.999}), TypeError,
     r"^betas must be a pair of numbers such as \(0.9, 0.999\), got set$"),
    (lambda p: Adam(p, betas=0.9), TypeError, r"^betas must be a pair of numbers such as \(0.9, 0.999\), got float$"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), ValueError, r"^betas\[0\] must be in \[0(.0)?, 1(.0)?\), got 1"),
    (lambda p: AdamW(p, betas=(1.5, 0.999)), ValueError, r"^betas\[0\] must be in \[0(.0)?, 1(.0)?\), got 1.5"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError, r"^nesterov=True needs momentum > 0$"),
    (lambda p: SGD([], lr=0.1), ValueError, r"^params must hold at least one parameter, got an empty iterable$"),
    (lambda p: SGD(np.zeros(3), lr=0.1), TypeError, r"^params must have .data and .grad .* params\[0\] is a float64$"),
    (lambda p: SGD([_Param(np.zeros(2, dtype=np.int64))], lr=0.1), TypeError,
     r"^params\[0\].data must be a floating-point NumPy array \(updated in place\), got int64$"),
    (lambda p: SGD([_Param([1.0, 2.0])], lr=0.1), TypeError, r"^params\[0\].data must be .* got list$"),
])
def test_optim_bad_input_messages(make, error, words):
    with pytest.raises(error, match=words):
        make([Tensor(np.zeros(2))])


# --- compress.quantize ------------------------------------------------------------------------------
# Expected values are written out by hand from the definitions (Li et al. 2016 for ternary weights:
# delta = 0.7 mean |w|, alpha = mean of the |w| above delta; Rastegari et al. 2016 for binary weights).

def test_binarize_maps_zero_to_plus_alpha():
    """``sign(0) = +1`` (docstring): a zero weight becomes +alpha, not -alpha (``t > 0`` instead of ``t >= 0``)."""
    from troikadl.compress import quantize as Q

    w = np.array([0.0, -2.0, 1.0])  # alpha = mean |w| = 1
    assert Q.binarize(w).tolist() == [1.0, -1.0, 1.0]
    assert Q.binarize(torch.tensor(w)).tolist() == [1.0, -1.0, 1.0]


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_ternarize_threshold_and_scale_by_hand(kind):
    from troikadl.compress import quantize as Q

    wrap = (lambda a: a) if kind == "numpy" else torch.tensor
    # mean |w| = 1.6, delta = 0.7 * 1.6 = 1.12: 4 and -2 are kept, alpha = (4 + 2) / 2 = 3
    # (a default of 1.7 keeps only 4; delta_factor / mean = 0.44 keeps 1 and -0.8 too)
    assert np.asarray(Q.ternarize(wrap(np.array([4.0, -2.0, 1.0, 0.2, -0.8])))).tolist() == [3.0, -3.0, 0, 0, 0]
    # |w| equal to delta is set to 0 ("0 where |w| <= delta"): mean |w| = 1 exactly, delta_factor 1
    assert np.asarray(Q.ternarize(wrap(np.array([1.0, -1.0, 1.0, -1.0])), delta_factor=1.0)).tolist() == [0.0] * 4
    # a single weight above delta = 0.7 * 0.85: alpha is that weight itself (divided by 1, not 2)
    assert np.asarray(Q.ternarize(wrap(np.array([3.0, 0.1, -0.1, 0.2])))).tolist() == [3.0, 0.0, 0.0, 0.0]


def test_binary_and_ternary_accept_lists_and_make_other_numpy_dtypes_float64():
    """Docstring of ``_float_weights``: NumPy float32 stays float32, other inputs become float64 (an int array
    must not stay int: ternary alpha = 2.5 would be truncated to 2)."""
    from troikadl.compress import quantize as Q

    t = Q.ternarize(np.array([3, -1, 0, 2]))  # mean 1.5, delta 1.05: alpha = (3 + 2) / 2
    assert t.dtype == np.float64 and t.tolist() == [2.5, 0.0, 0.0, 2.5]
    for f in (Q.binarize, Q.ternarize):
        assert f(np.array([1.0, -3.0], dtype=np.float16)).dtype == np.float64
    assert Q.binarize([1.0, -3.0]).tolist() == [2.0, -2.0]  # a list has no .dtype


@pytest.mark.parametrize("w", [np.zeros(0), torch.zeros(0), torch.zeros(2, 0)])
def test_binary_and_ternary_refuse_an_empty_numpy_array_or_tensor(w):
    from troikadl.compress import quantize as Q

    for f in (Q.binarize, Q.ternarize):
        with pytest.raises(ValueError, match=r"^w must hold at least one weight, got an empty array$"):
            f(w)


@pytest.mark.parametrize("symmetric, lo, hi", [(False, 0, 255), (True, -127, 127)])
def test_quantize_saturates_values_outside_the_calibrated_range(symmetric, lo, hi):
    """Calibrated on [-1, 2], then given -5 and 10 (an activation larger than any seen in calibration):
    the codes saturate at qmin and qmax of the 8-bit grid."""
    from troikadl.compress import quantize as Q

    qp = Q.choose_qparams(np.array([-1.0, 0.5, 2.0]), bits=8, symmetric=symmetric)
    assert Q.quantize(np.array([-5.0, 10.0]), qp).tolist() == [lo, hi]


def test_quantize_and_dequantize_bad_input_messages():
    from troikadl.compress import quantize as Q

    qp = Q.choose_qparams(np.ones((2, 3)), axis=1)  # one scale per column: 3
    words = r"^{} must have 3 entries along axis 1 \(one per channel of these QParams\), got shape \(2,\)$"
    with pytest.raises(ValueError, match=words.format("x")):
        Q.quantize(np.ones(2), qp)  # too few dimensions: no axis 1 at all
    with pytest.raises(ValueError, match=words.format("q")):
        Q.dequantize(np.ones(2, dtype=np.int64), qp)
    with pytest.raises(ValueError, match=r"^x must be finite, but it holds NaN or infinity$"):
        Q.quantize(np.array([1.0, np.nan]), Q.choose_qparams(np.ones(2)))
    for call in (lambda: Q.quantize(np.ones(3), (0.1, 0)), lambda: Q.dequantize(np.ones(3, dtype=int), (0.1, 0))):
        with pytest.raises(TypeError, match=r"^qp must be QParams \(from choose_qparams\), got tuple"):
            call()


# --- conv: defaults, no bias, and messages that name the argument ----------------------------------

def _conv_case(seed=7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))


def test_conv_without_bias_and_with_default_geometry_equals_torch():
    """``b=None`` adds nothing (not 1), and the defaults are stride 1, padding 0, dilation 1 (float64: 1e-12)."""
    import torch.nn.functional as F

    from troikadl.conv import conv2d, conv2d_loops, conv_output_size

    x, w = _conv_case()
    ref = F.conv2d(torch.as_tensor(x), torch.as_tensor(w)).numpy()
    for fn in (conv2d_loops, conv2d):
        out = fn(x, w)
        assert out.shape == ref.shape == (2, 4, 5, 5)
        np.testing.assert_allclose(out, ref, atol=TOL, rtol=0)
    ref = F.conv2d(torch.as_tensor(x), torch.as_tensor(w), stride=(2, 1), dilation=(1, 2)).numpy()
    for fn in (conv2d_loops, conv2d):  # a list is a pair too
        np.testing.assert_allclose(fn(x, w, stride=[2, 1], dilation=[1, 2]), ref, atol=TOL, rtol=0)
    ref = F.conv2d(torch.as_tensor(x), torch.as_tensor(w), padding=(2, 1)).numpy()  # more rows than columns
    for fn in (conv2d_loops, conv2d):
        np.testing.assert_allclose(fn(x, w, padding=(2, 1)), ref, atol=TOL, rtol=0)
    assert conv_output_size(7, 3) == 5  # stride 1, padding 0 and dilation 1 by default


@pytest.mark.parametrize("k", [2, 3, (3, 2)])
def test_pooling_with_default_stride_and_padding_equals_torch(k):
    import torch.nn.functional as F

    from troikadl.conv import avg_pool2d, max_pool2d

    x, _ = _conv_case(8)
    xt = torch.as_tensor(x)
    np.testing.assert_allclose(max_pool2d(x, k), F.max_pool2d(xt, k).numpy(), atol=0, rtol=0)
    np.testing.assert_allclose(avg_pool2d(x, k), F.avg_pool2d(xt, k).numpy(), atol=TOL, rtol=0)


def test_pooling_with_a_rectangular_kernel_and_the_largest_padding_equals_torch():
    """Kernel (4, 2), padding (2, 1): each axis may pad up to half of its own kernel size."""
    import torch.nn.functional as F

    from troikadl.conv import avg_pool2d, max_pool2d

    x, _ = _conv_case(9)
    xt = torch.as_tensor(x)
    for s in ((1, 2), (3, 1)):
        np.testing.assert_allclose(max_pool2d(x, (4, 2), s, (2, 1)), F.max_pool2d(xt, (4, 2), s, (2, 1)).numpy(),
                                   atol=0, rtol=0)
        np.testing.assert_allclose(avg_pool2d(x, (4, 2), s, (2, 1)), F.avg_pool2d(xt, (4, 2), s, (2, 1)).numpy(),
                                   atol=TOL, rtol=0)


@pytest.mark.parametrize("call, error, words", [
    (lambda c: c.conv_output_size(3, 6, padding=1), ValueError,
     r"^the kernel spans 6 inputs \(k=6, dilation=1\) but the padded input has only 5 \(n=3, padding=1\)$"),
    (lambda c: c.conv_output_size(0, 1), ValueError, r"^n must be >= 1, got 0$"),
    (lambda c: c.conv_output_size(3, 0), ValueError, r"^k must be >= 1, got 0$"),
    (lambda c: c.conv_output_size(3, 1, stride=0), ValueError, r"^stride must be >= 1, got 0$"),
    (lambda c: c.conv_output_size(3, 1, padding=-1), ValueError, r"^padding must be >= 0, got -1$"),
    (lambda c: c.conv_output_size(3, 1, dilation=0), ValueError, r"^dilation must be >= 1, got 0$"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 2, 1, 1))), ValueError,
     r"^x has 3 channels but w expects 2 \(x is \(batch, channels, H, W\) = \(1, 3, 4, 4\); "
     r"w is \(out, in, kH, kW\) = \(2, 2, 1, 1\)\)$"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), np.ones(3)), ValueError,
     r"^b must have one entry per output channel \(2\), got 3$"),
    (lambda c: c.conv2d(np.ones((3, 4, 4)), np.ones((2, 3, 1, 1))), ValueError, r"^x must be 4-D, got shape"),
    (lambda c: c.conv2d_loops(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1))), ValueError, r"^w must be 4-D, got shape"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((0, 3, 1, 1))), ValueError, r"^w must not be empty"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), np.ones((2, 1))), ValueError,
     r"^b must be 1-D, got shape"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), stride=0), ValueError,
     r"^stride must be >= 1, got 0$"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), padding=-1), ValueError,
     r"^padding must be >= 0, got -1$"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), dilation=(1, 0)), ValueError,
     r"^dilation\[1\] must be >= 1, got 0$"),
    (lambda c: c.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), stride=(1, 0)), ValueError,
     r"^stride\[1\] must be >= 1, got 0$"),
    (lambda c: c.conv2d_loops(np.ones((1, 3, 4, 4)), np.ones((2, 3, 1, 1)), padding=(0, -1)), ValueError,
     r"^padding\[1\] must be >= 0, got -1$"),
    (lambda c: c.avg_pool2d(np.ones((1, 1, 4, 4)), 2, padding=(0, -1)), ValueError,
     r"^padding\[1\] must be >= 0, got -1$"),
    (lambda c: c.max_pool2d(np.ones((1, 1, 4, 4)), 0), ValueError, r"^kernel_size must be >= 1, got 0$"),
    (lambda c: c.max_pool2d(np.ones((1, 1, 4, 4)), 2, stride=(1, 0)), ValueError, r"^stride\[1\] must be >= 1"),
    (lambda c: c.avg_pool2d(np.ones((1, 1, 4, 4)), 2, padding=-1), ValueError, r"^padding must be >= 0, got -1$"),
    (lambda c: c.avg_pool2d(np.ones((4, 4)), 2), ValueError, r"^x must be 4-D, got shape"),
    (lambda c: c.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=(2, 0)), ValueError,  # one axis too much is enough
     r"^padding must be at most half the kernel size \(2, 2\), got \(2, 0\)$"),
    (lambda c: c.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=(0, 2)), ValueError,
     r"^padding must be at most half the kernel size \(2, 2\), got \(0, 2\)$"),
])
def test_conv_bad_input_messages(call, error, words):
    from troikadl import conv

    with pytest.raises(error, match=words):
        call(conv)


@pytest.mark.parametrize("values, scale, zero", [
    ([-2.0, -1.0], 2 / 255, 255),  # all negative: the range [-2, 0], 0.0 at the top of the grid
    ([1.0, 3.0], 3 / 255, 0),  # all positive: the range [0, 3]
    ([-0.5, 0.25], 0.75 / 255, 170),  # inside [-1, 1]: 0 - (-0.5) / (0.75 / 255) = 170
])
def test_asymmetric_qparams_of_one_signed_or_small_ranges_by_hand(values, scale, zero):
    """The range is [min(x, 0), max(x, 0)] onto [0, 255] (8 bits); float64: 1e-15 relative on the scale."""
    from troikadl.compress import quantize as Q

    qp = Q.choose_qparams(np.array(values), bits=8)
    assert abs(float(qp.scale) - scale) <= 1e-15 * scale and int(qp.zero_point) == zero


@pytest.mark.parametrize("symmetric", [False, True])
def test_an_all_zero_tensor_gets_a_positive_scale_and_round_trips_exactly(symmetric):
    from troikadl.compress import quantize as Q

    x = np.zeros((2, 3))
    for axis in (None, 0):
        qp = Q.choose_qparams(x, bits=4, symmetric=symmetric, axis=axis)
        assert np.all(qp.scale > 0) and np.all(qp.zero_point == 0)
        q = Q.quantize(x, qp)
        assert q.tolist() == [[0] * 3] * 2 and Q.dequantize(q, qp).tolist() == x.tolist()


def test_choose_qparams_bad_input_messages():
    from troikadl.compress import quantize as Q

    with pytest.raises(ValueError, match=r"^x must hold at least one value to calibrate on, got an empty array$"):
        Q.choose_qparams(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"^x must hold at least one value, got an empty tensor$"):
        Q.fake_quantize(torch.zeros(2, 0))


def test_choose_qparams_takes_a_list_and_keeps_one_zero_point_per_channel():
    """A list has no ``.dtype``; symmetric per channel, the zero points are int64 arrays shaped like the scales."""
    from troikadl.compress import quantize as Q

    qp = Q.choose_qparams([-1.0, 0.5, 2.0], bits=8)  # [-1, 2] onto [0, 255]: zero point round(255 / 3) = 85
    assert qp.dtype == np.float64 and int(qp.zero_point) == 85
    x = np.array([[1.0, -2.0, 0.5], [0.25, 0.0, -0.5], [3.0, 1.0, 0.0]])
    qp = Q.choose_qparams(x, bits=8, symmetric=True, axis=1)
    assert qp.zero_point.shape == qp.scale.shape == (3,) and qp.zero_point.dtype == np.int64
    np.testing.assert_allclose(qp.scale, [3 / 127, 2 / 127, 0.5 / 127], rtol=1e-15, atol=0)


def test_quantize_weights_bad_input_messages():
    from torch import nn

    from troikadl.compress import quantize as Q

    with pytest.raises(TypeError, match=r"^symmetric must be True or False"):
        Q.quantize_weights(nn.Linear(2, 2), 8, symmetric="yes")
    with pytest.raises(ValueError, match=r"^model has no nn.Linear layers to quantize$"):
        Q.quantize_weights(nn.ReLU(), 8)


def test_fake_quantize_is_symmetric_by_default_like_torch():
    """Default: 8 bits, symmetric, per tensor: scale max|x| / 127 = 3 / 127, zero point 0 (asymmetric would put
    0 at code 64). Against the formula in float64 (1e-12) and torch.fake_quantize_per_tensor_affine, which
    keeps its scale in float32 (1e-6)."""
    from troikadl.compress import quantize as Q

    a = np.array([-1.0, 0.0, 0.5, 1.3, 3.0])
    out = Q.fake_quantize(torch.tensor(a)).numpy()
    np.testing.assert_allclose(out, np.clip(np.round(a / (3 / 127)), -127, 127) * (3 / 127), rtol=0, atol=TOL)
    ref = torch.fake_quantize_per_tensor_affine(torch.tensor(a), 3 / 127, 0, -127, 127).numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL32)
    with pytest.raises(ValueError, match=r"^x must be finite, but it holds NaN or infinity$"):
        Q.fake_quantize(torch.tensor([1.0, float("nan")]))


# --- attention (mutants that survived tests/test_attention.py; the messages are matched whole) ----------------
import troikadl.attention as A  # noqa: E402


def test_softmax_subtracts_each_rows_own_max():
    """Rows far apart: a global max (or adding it) underflows or overflows; the stable form does not."""
    z = np.array([[1000.0, 1001.0], [0.0, 1.0], [-1000.0, -999.0]])
    p = 1 / (1 + np.exp(-1.0))  # softmax([0, 1]) written out
    assert np.abs(A.softmax(z, axis=-1) - np.array([[1 - p, p]] * 3)).max() <= 1e-15
    assert np.abs(A.softmax(z.T, axis=0) - np.array([[1 - p, p]] * 3).T).max() <= 1e-15


def test_softmax_refuses_nan_with_its_message():
    with pytest.raises(ValueError, match=r"^z must not hold NaN or \+inf \(-inf marks masked entries\)$"):
        A.softmax(np.array([0.0, np.nan]))


def test_sinusoidal_positions_wants_an_integer_length():
    with pytest.raises(TypeError, match="^length must be"):
        A.sinusoidal_positions(2.5, 4)


def test_from_torch_messages_name_what_they_got():
    with pytest.raises(TypeError, match=r"^mha must be a torch.nn.MultiheadAttention, got Linear$"):
        A.MHAWeights.from_torch(torch.nn.Linear(8, 8))
    with pytest.raises(ValueError, match=r"^add_bias_kv=True is not supported: MHAWeights has no extra learned "
                                         r"key and value$"):
        A.MHAWeights.from_torch(torch.nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match=r"^add_zero_attn=True is not supported: MHAWeights attends to the "
                                         r"given keys only$"):
        A.MHAWeights.from_torch(torch.nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with pytest.raises(TypeError, match=r"^layer must be a torch.nn.TransformerEncoderLayer, got Linear$"):
        A.EncoderWeights.from_torch(torch.nn.Linear(8, 8))
    layer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=8)
    layer.norm2 = torch.nn.LayerNorm(8, eps=1e-3)
    with pytest.raises(ValueError, match=r"^layer norms with different eps \(1e-05 and 0.001\) are not supported$"):
        A.EncoderWeights.from_torch(layer)


def _encoder_equals_torch(layer):
    layer = layer.double().train()  # dropout is 0; train mode skips torch's fast path, which needs norm weights
    x = np.random.default_rng(0).normal(size=(2, 5, 8))
    ours = A.encoder_block(x, A.EncoderWeights.from_torch(layer), 2)
    ref = layer(torch.as_tensor(x)).detach().numpy()
    assert np.abs(ours - ref).max() <= 1e-12  # float64 throughout


def test_encoder_from_torch_takes_a_gelu_module():
    torch.manual_seed(0)
    _encoder_equals_torch(torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                                           activation=torch.nn.GELU()))


def test_encoder_from_torch_takes_layer_norms_without_weights():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    layer.norm1 = torch.nn.LayerNorm(8, elementwise_affine=False)
    layer.norm2 = torch.nn.LayerNorm(8, elementwise_affine=False)
    _encoder_equals_torch(layer)
