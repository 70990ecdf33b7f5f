"""Below 8 bits (chapter 10): int4 group-wise weights and LLM.int8()'s mixed-precision decomposition.

Group-wise quantization is checked equal to ``torch.fake_quantize_per_channel_affine`` (scales from torch's own
per-channel observer) on the matrix cut into groups, in float32, and to a direct loop in float64; its storage to a
real nibble packing. LLM.int8() is checked against integer products done here with torch's int32 matmul (or
``torch._int_mm``) and NumPy int64, against its limiting cases (threshold infinity: vector-wise int8; threshold
0: the float product), against a rounding-error bound, and at model level on a small GPT.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import troikadl.compress.groupwise as G
import troikadl.compress.llm_int8 as L
from troikadl.compress import quantize as Q
from troikadl.transformer import GPT, GPTConfig

# --- group-wise int4 ---------------------------------------------------------------------------------------


def _torch_groups(w: torch.Tensor, bits: int, g: int, symmetric: bool) -> torch.Tensor:
    """torch's per-channel fake quantization of ``w`` reshaped to one channel per group."""
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    qmin, qmax = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)
    groups = w.reshape(-1, g)
    obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8 if symmetric else torch.quint8,
                                   qscheme=torch.per_channel_symmetric if symmetric else torch.per_channel_affine,
                                   quant_min=qmin, quant_max=qmax)
    obs(groups)
    scale, zero = obs.calculate_qparams()
    out = torch.fake_quantize_per_channel_affine(groups, scale, zero.to(torch.int32), 0, qmin, qmax)
    return out.reshape(w.shape)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 8), groups=st.integers(1, 6), g=st.sampled_from([1, 2, 8, 16, 32]),
       bits=st.sampled_from([2, 3, 4, 8]), symmetric=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_groups_equal_torch_per_channel_fake_quantization_float32(rows, groups, g, bits, symmetric, seed):
    w = torch.randn(rows, groups * g, generator=torch.Generator().manual_seed(seed)) * 3 + (0 if symmetric else 0.5)
    out = G.group_fake_quantize(w, bits, g, symmetric=symmetric)
    assert out.dtype == torch.float32 and out.shape == w.shape
    torch.testing.assert_close(out, _torch_groups(w, bits, g, symmetric), rtol=0, atol=1e-5 * float(w.abs().max()))


def _direct(W, bits, g, symmetric):
    """A direct float64 reference: a loop over groups with Python floats."""
    out = np.empty_like(W)
    for i in range(W.shape[0]):
        for j in range(0, W.shape[1], g):
            grp = [float(v) for v in W[i, j:j + g]]
            lo, hi = min(min(grp), 0.0), max(max(grp), 0.0)
            if symmetric:
                qmin, qmax = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
                s, z = max(-lo, hi) / qmax, 0
            else:
                qmin, qmax = 0, 2 ** bits - 1
                s = (hi - lo) / qmax
                z = min(max(round(-lo / s), qmin), qmax) if s > 0 else 0
            s = s if s > 0 else 1.0
            out[i, j:j + g] = [s * (min(max(round(v / s) + z, qmin), qmax) - z) for v in grp]
    return out


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("g", [1, 4, 16, None])
def test_float64_equals_a_direct_loop(symmetric, g):
    W = np.random.default_rng(3).normal(size=(5, 32)) * np.array([1.0, 0.01, 10.0, 1.0, 2.0])[:, None]
    W[1, :16] = 0.0  # all-zero groups
    gq = G.group_quantize(W, 4, g, symmetric=symmetric)
    out = G.group_dequantize(gq)
    assert out.dtype == np.float64 and gq.codes.dtype == np.int64
    np.testing.assert_allclose(out, _direct(W, 4, g or 32, symmetric), rtol=0, atol=1e-12 * np.abs(W).max())
    lo, hi = Q.int_range(4, symmetric)
    assert gq.codes.min() >= lo and gq.codes.max() <= hi
    assert gq.scales.shape == (5, 32 // (g or 32))


def test_one_group_per_row_is_per_channel_quantization():
    W = np.random.default_rng(4).normal(size=(6, 20))
    for sym in (True, False):
        qp = Q.choose_qparams(W, bits=4, symmetric=sym, axis=0)
        np.testing.assert_allclose(G.group_fake_quantize(W, 4, None, symmetric=sym),
                                   Q.dequantize(Q.quantize(W, qp), qp), rtol=0, atol=1e-12)


def test_smaller_groups_never_err_more_on_average_and_the_error_is_bounded_by_half_a_step():
    W = np.random.default_rng(5).standard_t(3, size=(64, 256))
    errs = [np.mean((G.group_fake_quantize(W, 4, g) - W) ** 2) for g in (256, 128, 64, 32, 16, 8)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    gq = G.group_quantize(W, 4, 32)
    step = np.repeat(gq.scales, 32, axis=1)
    assert np.all(np.abs(G.group_dequantize(gq) - W) <= step / 2 * (1 + 1e-12))


def test_packed_bytes_counts_a_real_nibble_packing_with_fp16_scales():
    W = np.random.default_rng(6).normal(size=(8, 64)).astype(np.float32)
    gq = G.group_quantize(W, 4, 16)
    nibbles = (gq.codes + 8).astype(np.uint8).reshape(-1)  # [-7, 7] -> [1, 15]
    packed = (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)
    blob = packed.tobytes() + gq.scales.astype(np.float16).tobytes()
    assert len(blob) == G.packed_bytes(8, 64, 4, 16) == 8 * 64 // 2 + 8 * 4 * 2
    assert G.packed_bytes(4096, 4096, 4, 128) == 4096 * 4096 * 4.125 / 8
    assert G.bits_per_weight(4, 128) == 4.125 and G.bits_per_weight(4, 16) == 5.0
    assert G.bits_per_weight(4, 128, zero_point_bits=4) == 4 + 20 / 128
    assert G.packed_bytes(1, 3, 3, 3, scale_bytes=0) == 2  # 9 bits round up to 2 bytes


def test_quantize_linears_groupwise_replaces_only_the_weights_of_a_copy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4, bias=False))
    new = G.quantize_linears_groupwise(model, 4, 8)
    for a, b in zip(model, new):
        if isinstance(a, nn.Linear):
            torch.testing.assert_close(b.weight, _torch_groups(a.weight.detach(), 4, 8, True), rtol=0, atol=1e-6)
            assert not torch.equal(a.weight, b.weight)
            assert (a.bias is None) == (b.bias is None) and (a.bias is None or torch.equal(a.bias, b.bias))
    with pytest.raises(ValueError, match=r"group_size must divide.*'2' has 16 inputs"):
        G.quantize_linears_groupwise(model, 4, 32)


@pytest.mark.parametrize("call, error, match", [
    (lambda: G.group_quantize(np.ones((2, 6)), 4, 4), ValueError, "group_size must divide"),
    (lambda: G.group_quantize(np.ones(6), 4, 2), ValueError, "W must be 2-D"),
    (lambda: G.group_quantize(np.ones((2, 6)), 1, 2), ValueError, "bits must be"),
    (lambda: G.group_quantize(np.ones((2, 6)), 4, 2.0), TypeError, "group_size must be"),
    (lambda: G.group_quantize(np.ones((2, 6)), 4, 0), ValueError, "group_size must be"),
    (lambda: G.group_quantize(np.array([[np.nan, 1.0]]), 4, 2), ValueError, "W must be finite"),
    (lambda: G.group_quantize(np.ones((2, 6)), 4, 2, symmetric=1), TypeError, "symmetric must be"),
    (lambda: G.group_dequantize(np.ones((2, 2))), TypeError, "gq must be"),
    (lambda: G.packed_bytes(4, 6, 4, 4), ValueError, "group_size must divide cols"),
    (lambda: G.bits_per_weight(4, 0), ValueError, "group_size must be"),
    (lambda: G.quantize_linears_groupwise("model", 4, 2), TypeError, "model must be"),
])
def test_bad_inputs_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- LLM.int8() --------------------------------------------------------------------------------------------


def _codes(v, dim):
    """absmax int8 codes and scales, written as the paper writes them: round(127 * v / max|v|)."""
    amax = v.abs().amax() if dim is None else v.abs().amax(dim=dim, keepdim=True)
    amax = torch.where(amax > 0, amax, torch.full_like(amax, 127.0))
    return torch.round(127 * v / amax).to(torch.int32), amax / 127


def _int_product(a, b):
    """int32 matmul in torch; checked equal to NumPy's int64 and, where available, torch._int_mm."""
    out = a @ b
    np.testing.assert_array_equal(out.numpy(), a.numpy().astype(np.int64) @ b.numpy().astype(np.int64))
    if hasattr(torch, "_int_mm") and a.shape[0] > 16 and a.shape[1] % 8 == 0 and b.shape[1] % 8 == 0:
        assert torch.equal(torch._int_mm(a.to(torch.int8), b.to(torch.int8)), out)
    return out


@pytest.mark.parametrize("per", ["tensor", "vector"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_int8_matmul_equals_an_integer_product_rescaled(per, dtype):
    g = torch.Generator().manual_seed(7)
    X, W = torch.randn(24, 32, generator=g, dtype=dtype), torch.randn(32, 16, generator=g, dtype=dtype)
    X[:, 5] *= 30
    cx, sx = _codes(X, None if per == "tensor" else 1)
    cw, sw = _codes(W, None if per == "tensor" else 0)
    ref = _int_product(cx, cw).to(dtype) * (sx * sw)
    out = L.int8_matmul(X, W, per=per)
    assert out.dtype == dtype
    torch.testing.assert_close(out, ref, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=0)


@pytest.mark.parametrize("per", ["tensor", "vector"])
def test_int8_error_is_within_the_rounding_bound(per):
    """x w - s_x s_w c_x c_w, with |x / s_x - c_x| <= 1/2 and the same for w, is at most
    |x| s_w / 2 + |w| s_x / 2 + s_x s_w / 4 per term; summed over the hidden dimension."""
    g = torch.Generator().manual_seed(8)
    X, W = torch.randn(40, 64, generator=g, dtype=torch.float64), torch.randn(64, 24, generator=g, dtype=torch.float64)
    X[:, :3] *= 40
    _, sx = _codes(X, None if per == "tensor" else 1)
    _, sw = _codes(W, None if per == "tensor" else 0)
    bound = X.abs() @ torch.ones_like(W) * sw / 2 + sx * (torch.ones_like(X) @ W.abs()) / 2 + 64 * sx * sw / 4
    err = (L.int8_matmul(X, W, per=per) - X @ W).abs()
    assert bool((err <= bound * (1 + 1e-9)).all())


def _outlier_data(dtype=torch.float32, seed=9):
    g = torch.Generator().manual_seed(seed)
    X, W = torch.randn(48, 64, generator=g, dtype=dtype), torch.randn(64, 32, generator=g, dtype=dtype) * 0.1
    X[:, [3, 17, 40]] *= 30  # three outlier features, as in large models
    return X, W


def test_threshold_infinity_is_vector_wise_and_threshold_zero_is_the_float_product():
    X, W = _outlier_data(torch.float64)
    out, n = L.llm_int8_matmul(X, W, threshold=math.inf)
    assert n == 0 and torch.equal(out, L.int8_matmul(X, W, per="vector"))
    out, n = L.llm_int8_matmul(X, W, threshold=0.0)
    assert n == 64
    torch.testing.assert_close(out, X @ W, rtol=1e-13, atol=1e-13)


def test_the_two_parts_sum_exactly_and_each_is_what_it_should_be():
    X, W = _outlier_data()
    float_part, int8_part, outliers = L.llm_int8_parts(X, W, threshold=6.0)
    expected = (X.abs() >= 6.0).any(dim=0)
    assert torch.equal(outliers, expected) and set(torch.nonzero(outliers).flatten().tolist()) >= {3, 17, 40}
    out, n = L.llm_int8_matmul(X, W, threshold=6.0)
    assert n == int(expected.sum()) and torch.equal(out, float_part + int8_part)
    torch.testing.assert_close(float_part, X[:, expected] @ W[expected], rtol=1e-6, atol=1e-6)
    keep = ~expected
    cx, sx = _codes(X[:, keep], 1)
    cw, sw = _codes(W[keep], 0)
    torch.testing.assert_close(int8_part, _int_product(cx, cw).float() * (sx * sw), rtol=1e-6, atol=0)


def test_a_value_equal_to_the_threshold_is_an_outlier():
    X = torch.tensor([[6.0, 1.0, -5.99], [0.5, -2.0, 1.0]])
    assert L.outlier_dims(X, 6.0).tolist() == [True, False, False]
    assert L.outlier_dims(-X, 5.99).tolist() == [True, False, True]
    assert L.llm_int8_matmul(X, torch.ones(3, 2), threshold=6.0)[1] == 1


def test_the_decomposition_restores_what_outliers_break():
    X, W = _outlier_data(torch.float64)
    exact = X @ W
    err = {k: float((v - exact).norm() / exact.norm()) for k, v in {
        "tensor": L.int8_matmul(X, W, per="tensor"), "vector": L.int8_matmul(X, W, per="vector"),
        "llm": L.llm_int8_matmul(X, W)[0]}.items()}
    clean = X.clone()
    clean[:, [3, 17, 40]] /= 30
    clean_err = float((L.int8_matmul(clean, W, per="vector") - clean @ W).norm() / (clean @ W).norm())
    assert err["llm"] < 0.2 * err["tensor"] and err["llm"] < 0.2 * err["vector"]
    assert err["llm"] < 2 * clean_err  # about the error of int8 without outliers


def test_int8_linear_and_replace_linears():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4, bias=False))
    x = torch.randn(3, 5, 16)
    x[..., 2] += 20
    for mode in L.MODES:
        new = L.replace_linears(model, mode)
        assert isinstance(new[0], L.Int8Linear) and isinstance(model[0], nn.Linear)
        out = new(x)
        h = x.reshape(-1, 16)
        if mode == "float":
            ref = model(x)
        elif mode == "llm_int8":
            h1 = torch.relu(L.llm_int8_matmul(h, model[0].weight.T)[0] + model[0].bias)
            ref = L.llm_int8_matmul(h1, model[2].weight.T)[0].reshape(3, 5, 4)
        else:
            h1 = torch.relu(L.int8_matmul(h, model[0].weight.T, per=mode) + model[0].bias)
            ref = L.int8_matmul(h1, model[2].weight.T, per=mode).reshape(3, 5, 4)
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
        assert new[0].outliers == (1 if mode == "llm_int8" else 0) and new[0].calls == 1


def _gpt(dtype=torch.float32):
    torch.manual_seed(2)
    gpt = GPT(GPTConfig(vocab_size=20, n_positions=16, d_model=16, heads=2, layers=2)).to(dtype)
    with torch.no_grad():  # trained-looking LayerNorms: not all gains 1 and biases 0
        for name, p in gpt.named_parameters():
            if "ln" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return gpt, torch.randint(0, 20, (3, 16), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_plant_outliers_keeps_the_function_and_makes_outliers(dtype, tol):
    gpt, ids = _gpt(dtype)
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    planted = L.plant_outliers(gpt, [1, 7], alpha=40.0)
    torch.testing.assert_close(planted(ids)[0], gpt(ids)[0], rtol=0, atol=tol)
    assert all(torch.equal(before[k], v) for k, v in gpt.state_dict().items())  # the original is untouched
    prof0, prof1 = L.activation_absmax(gpt, ids), L.activation_absmax(planted, ids)
    for name in ("blocks.0.qkv", "blocks.1.up"):
        torch.testing.assert_close(prof1[name][[1, 7]], 40 * prof0[name][[1, 7]], rtol=1e-5, atol=0)
        others = [c for c in range(16) if c not in (1, 7)]
        torch.testing.assert_close(prof1[name][others], prof0[name][others], rtol=tol, atol=tol)
    for name in ("blocks.0.proj", "blocks.0.down", "blocks.1.proj", "blocks.1.down"):  # read the residual stream
        torch.testing.assert_close(prof1[name], prof0[name], rtol=tol, atol=tol)


def test_activation_absmax_equals_the_inputs_read_directly():
    gpt, ids = _gpt()
    prof = L.activation_absmax(gpt, ids)
    assert set(prof) == {f"blocks.{i}.{n}" for i in range(2) for n in ("qkv", "proj", "up", "down")}
    with torch.no_grad():
        x = gpt.embed(ids)
        torch.testing.assert_close(prof["blocks.0.qkv"], gpt.blocks[0].ln1(x).abs().amax(dim=(0, 1)))
        x = x + gpt.blocks[0].attention(gpt.blocks[0].ln1(x))[0]
        torch.testing.assert_close(prof["blocks.0.up"], gpt.blocks[0].ln2(x).abs().amax(dim=(0, 1)))


def test_on_a_gpt_with_outliers_llm_int8_is_close_to_float_and_per_tensor_is_not():
    gpt, ids = _gpt()
    gpt.requires_grad_(False)
    planted = L.plant_outliers(gpt, [1, 7], alpha=60.0)
    ref = gpt(ids)[0]
    err = {m: float((L.replace_linears(planted, m)(ids)[0] - ref).abs().max()) for m in ("tensor", "llm_int8")}
    assert err["llm_int8"] < 0.25 * err["tensor"]
    model = L.replace_linears(planted, "llm_int8")
    model(ids)
    assert model.blocks[0].qkv.outliers >= 2 and model.blocks[0].qkv.calls == 1


@pytest.mark.parametrize("call, error, match", [
    (lambda: L.int8_matmul(torch.ones(2, 3), torch.ones(4, 2)), ValueError, "same d"),
    (lambda: L.int8_matmul(torch.ones(2, 3), torch.ones(3, 2, dtype=torch.float64)), TypeError, "same dtype"),
    (lambda: L.int8_matmul(np.ones((2, 3)), torch.ones(3, 2)), TypeError, "X must be a torch tensor"),
    (lambda: L.int8_matmul(torch.ones(2, 3), torch.ones(3, 2), per="row"), ValueError, "per must be one of"),
    (lambda: L.llm_int8_matmul(torch.ones(2, 3), torch.ones(3, 2), threshold=-1.0), ValueError, "threshold"),
    (lambda: L.outlier_dims(torch.ones(3), 6.0), ValueError, "X must be 2-D"),
    (lambda: L.replace_linears(nn.Linear(2, 2), "int4"), ValueError, "mode must be one of"),
    (lambda: L.replace_linears(nn.ReLU()), ValueError, "no nn.Linear"),
    (lambda: L.plant_outliers(nn.Linear(2, 2), [0]), TypeError, "gpt must be"),
    (lambda: L.plant_outliers(_gpt()[0], [16]), ValueError, "channels"),
    (lambda: L.plant_outliers(_gpt()[0], [1, 1]), ValueError, "channels must be distinct"),
    (lambda: L.plant_outliers(_gpt()[0], [1], alpha=0.0), ValueError, "alpha"),
    (lambda: L.plant_outliers(GPT(GPTConfig(20, 8, 8, 2, 1, norm_first=False)), [1]), ValueError, "pre-norm"),
])
def test_llm_int8_bad_inputs_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_absmax_int8_codes_and_scales():
    v = torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 0.0]])
    codes, scale = L.absmax_int8(v)
    assert codes.dtype == torch.int8 and codes.tolist() == [[64, -127, 0], [0, 0, 0]] and float(scale) == pytest.approx(2 / 127)
    codes, scale = L.absmax_int8(v, dim=1)
    assert codes.tolist() == [[64, -127, 0], [0, 0, 0]] and scale.flatten().tolist() == pytest.approx([2 / 127, 1.0])
    with pytest.raises(ValueError, match="dim must be"):
        L.absmax_int8(v, dim=2)
