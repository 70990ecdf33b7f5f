"""Chapter 10: activation fake quantization for QAT, vs torch.ao.quantization.FakeQuantize and a direct reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver

import troikadl as tk
from troikadl.compress import qat
from troikadl.compress import quantize as Q

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.ao.quantization.*")


def _torch_fq(bits):
    return FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=2 ** bits - 1,
                        dtype=torch.quint8, qscheme=torch.per_tensor_affine)


def _batches(seed, n=25):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):  # drifting location and spread, some all-positive (ReLU-like), some with zeros
        x = torch.randn(32, 17, generator=g) * (0.5 + 3 * torch.rand(1, generator=g)) + (i % 4 - 1.5)
        out.append(torch.relu(x) if i % 3 == 0 else x)
    return out


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_act_fake_quant_matches_torch_fakequantize(bits):
    ref, ours = _torch_fq(bits), qat.ActFakeQuant(bits)
    for x in _batches(bits):
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        a, b = ref(xa), ours(xb)
        g = torch.randn_like(a)
        a.backward(g)
        b.backward(g)
        assert torch.equal(ours.min_val, ref.activation_post_process.min_val)
        assert torch.equal(ours.max_val, ref.activation_post_process.max_val)
        assert torch.equal(ours.scale.reshape(1), ref.scale)
        assert int(ours.zero_point) == int(ref.zero_point)
        assert torch.allclose(a, b, rtol=0, atol=1e-6 * float(ref.scale))  # one rounding of x * (1/s) apart at most
        assert torch.equal(xa.grad, xb.grad)
    # frozen: eval mode keeps the range (torch: disable the observer)
    ref.disable_observer()
    ours.eval()
    x = _batches(99, 1)[0] * 10
    assert torch.allclose(ours(x), ref(x), rtol=0, atol=1e-6 * float(ref.scale))
    assert torch.equal(ours.scale.reshape(1), ref.scale)


@settings(max_examples=40, deadline=None)
@given(bits=st.sampled_from(Q.SUPPORTED_BITS), c=st.floats(0.001, 1.0), seed=st.integers(0, 10 ** 6),
       n=st.integers(1, 6), shift=st.sampled_from([0.0, 6.0, -6.0]))
def test_act_fake_quant_random_configurations(bits, c, seed, n, shift):
    """Random bit-widths, averaging constants and batches; shifted batches lie on one side of 0 (the range
    must still contain 0)."""
    ref = FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=2 ** bits - 1,
                       dtype=torch.quint8, qscheme=torch.per_tensor_affine, averaging_constant=c)
    ours = qat.ActFakeQuant(bits, averaging_constant=c)
    for x in _batches(seed, n):
        x = x + shift
        a, b = ref(x), ours(x)
        assert torch.equal(ours.scale.reshape(1), ref.scale) and int(ours.zero_point) == int(ref.zero_point)
        assert torch.allclose(a, b, rtol=0, atol=1e-6 * float(ref.scale))


def test_ema_and_ste_against_direct_reference():
    """The EMA written out in float64, and the STE's gradient: 1 inside the grid's range, 0 outside."""
    c, bits = 0.01, 4
    ours = qat.ActFakeQuant(bits, averaging_constant=c)
    lo = hi = None
    for x in _batches(5, 10):
        ours(x)
        mn, mx = float(x.min()), float(x.max())
        lo, hi = (mn, mx) if lo is None else (lo + c * (mn - lo), hi + c * (mx - hi))
    assert float(ours.min_val) == pytest.approx(lo, rel=1e-5)
    assert float(ours.max_val) == pytest.approx(hi, rel=1e-5)
    s = (max(hi, 0) - min(lo, 0)) / (2 ** bits - 1)
    assert float(ours.scale) == pytest.approx(s, rel=1e-5)
    ours.eval()
    s, z = float(ours.scale), int(ours.zero_point)
    x = torch.linspace(min(lo, 0) - 3, max(hi, 0) + 3, 301, dtype=torch.float64, requires_grad=True)
    y = ours(x)
    y.sum().backward()
    q = np.round(x.detach().numpy() / s) + z
    expect = s * (np.clip(q, 0, 2 ** bits - 1) - z)
    assert np.allclose(y.detach().numpy(), expect, rtol=0, atol=1e-6 * s)
    inside = (q >= 0) & (q <= 2 ** bits - 1)
    assert 0 < inside.sum() < inside.size
    assert np.array_equal(x.grad.numpy(), inside.astype(float))
    assert y.dtype == torch.float64


def test_eval_is_frozen_and_needs_a_range():
    m = qat.ActFakeQuant(8)
    m.eval()
    with pytest.raises(RuntimeError, match="range"):
        m(torch.ones(3))
    m.train()
    m(torch.tensor([-1.0, 2.0]))
    before = (m.min_val.clone(), m.max_val.clone(), m.scale.clone())
    m.eval()
    m(torch.tensor([-50.0, 70.0]))
    assert all(torch.equal(u, v) for u, v in zip(before, (m.min_val, m.max_val, m.scale)))
    assert "bits=8" in repr(m)


def test_quantize_model_structure_and_weights():
    torch.manual_seed(0)
    mlp = tk.cnn.mlp([8, 16, 16, 3])
    m = qat.quantize_model(mlp, 4, 8)
    kinds = [next(k for k in ("ActFakeQuant", "Linear", "ReLU") if isinstance(l, getattr(qat, k, None) or
                                                                        getattr(nn, k))) for l in m]
    assert kinds == ["ActFakeQuant", "Linear", "ReLU", "ActFakeQuant", "Linear", "ReLU", "ActFakeQuant", "Linear"]
    assert len(qat.act_quantizers(m)) == 3 and m.training
    w_only = qat.quantize_model(mlp, 4)
    assert not qat.act_quantizers(w_only)
    x = torch.randn(20, 8)
    ref = Q.quantize_weights(mlp, 4)
    assert torch.equal(w_only(x), ref(x))  # weights-only is exactly quantize_weights
    for ours, theirs in zip([l for l in m if isinstance(l, nn.Linear)], [l for l in ref if isinstance(l, nn.Linear)]):
        assert torch.equal(ours.weight, theirs.weight)
    a_only = qat.quantize_model(mlp, None, 8)
    assert torch.equal(a_only[1].weight, mlp[0].weight)  # float weights
    assert mlp[0].weight is not m[1].weight and not hasattr(mlp[0], "parametrizations")  # the original is intact


def test_calibrate_is_minmax_and_ptq_matches_a_hand_built_forward():
    torch.manual_seed(1)
    mlp = tk.cnn.mlp([8, 16, 3])
    X = torch.randn(64, 8) * 2
    m = qat.calibrate(qat.quantize_model(mlp, 4, 4), X)
    assert not m.training
    aq = qat.act_quantizers(m)
    assert float(aq[0].min_val) == float(X.min()) and float(aq[0].max_val) == float(X.max())

    def fq(t, lo, hi, bits=4):  # written out: asymmetric min-max quantization of t with the range [lo, hi]
        qp = Q.choose_qparams(np.array([min(lo, 0.0), max(hi, 0.0)]), bits=bits)
        return torch.as_tensor(Q.dequantize(Q.quantize(t.detach().numpy(), qp), qp), dtype=torch.float32)

    w0, w1 = (torch.as_tensor(Q.fake_quantize(l.weight.detach(), bits=4, axis=0)) for l in (mlp[0], mlp[2]))
    x0 = fq(X, float(X.min()), float(X.max()))
    h = torch.relu(x0 @ w0.T + mlp[0].bias).detach()  # what the second quantizer saw: its range is h's min-max
    assert float(aq[1].min_val) == 0.0 and float(aq[1].max_val) == pytest.approx(float(h.max()), rel=1e-6)
    h = fq(h, 0.0, float(aq[1].max_val))
    expect = (h @ w1.T + mlp[2].bias).detach()
    with torch.no_grad():
        assert torch.allclose(m(X), expect, atol=1e-4)
    # calibrating again resets the ranges (min-max, not an average with the old ones)
    qat.calibrate(m, X[:8])
    assert float(aq[0].max_val) == float(X[:8].max())


def test_qat_trains_and_gradients_reach_float_weights():
    torch.manual_seed(2)
    m = qat.quantize_model(tk.cnn.mlp([8, 16, 3]), 2, 2)
    X, yb = torch.randn(64, 8), torch.randint(0, 3, (64,))
    nn.functional.cross_entropy(m(X), yb).backward()
    for layer in (l for l in m if isinstance(l, nn.Linear)):
        g = layer.parametrizations.weight.original.grad
        assert g is not None and bool(g.abs().sum() > 0)


def test_bad_input():
    with pytest.raises(ValueError, match="bits"):
        qat.ActFakeQuant(1)
    with pytest.raises(TypeError, match="bits"):
        qat.ActFakeQuant(4.5)
    with pytest.raises(ValueError, match="averaging_constant"):
        qat.ActFakeQuant(8, averaging_constant=0.0)
    with pytest.raises(TypeError, match="x"):
        qat.ActFakeQuant(8)(np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        qat.ActFakeQuant(8)(torch.tensor([1.0, float("nan")]))
    mlp = tk.cnn.mlp([4, 3])
    with pytest.raises(TypeError, match="model"):
        qat.quantize_model("mlp", 4, 4)
    with pytest.raises(TypeError, match="model"):
        qat.quantize_model(nn.Linear(4, 3), 4, 4)
    with pytest.raises(ValueError, match="a_bits"):
        qat.quantize_model(mlp, 4, 9)
    with pytest.raises(ValueError, match="w_bits"):
        qat.quantize_model(mlp, 0, 8)
    with pytest.raises(ValueError, match="nothing"):
        qat.quantize_model(mlp, None, None)
    with pytest.raises(ValueError, match="ActFakeQuant"):
        qat.calibrate(mlp, np.ones((2, 4)))
    with pytest.raises(ValueError, match="X"):
        qat.calibrate(qat.quantize_model(mlp, 4, 4), np.ones((0, 4)))
    with pytest.raises(ValueError, match="scale"):
        qat.fake_quantize_affine(torch.ones(2), 0.0, 0, 0, 255)
    with pytest.raises(ValueError, match="qmax"):
        qat.fake_quantize_affine(torch.ones(2), 1.0, 0, 5, 5)
