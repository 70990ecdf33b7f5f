"""Attention from scratch against PyTorch and Keras."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import troikadl as tk
from troikadl import attention as A


def _qkv(dtype=np.float64, B=2, H=3, Lq=5, Lk=7, d=8, seed=0):
    r = np.random.default_rng(seed)
    return [r.normal(size=s).astype(dtype) for s in ((B, H, Lq, d), (B, H, Lk, d), (B, H, Lk, d))]


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("kind", ["none", "causal", "padding", "random"])
def test_sdpa_equals_torch(dtype, tol, kind):
    q, k, v = _qkv(dtype, Lq=6 if kind == "causal" else 5, Lk=6 if kind == "causal" else 7)
    mask, causal = None, False
    if kind == "causal":
        causal = True
    elif kind == "padding":
        mask = A.padding_mask([7, 4], 7)
    elif kind == "random":
        mask = np.random.default_rng(1).random((5, 7)) > 0.3
        mask[:, 0] = True  # no fully masked row
    ours, w = A.scaled_dot_product_attention(q, k, v, mask, causal=causal)
    t = [torch.as_tensor(a) for a in (q, k, v)]
    ref = F.scaled_dot_product_attention(*t, attn_mask=None if mask is None else torch.as_tensor(mask),
                                         is_causal=causal).numpy()
    assert ours.dtype == dtype
    assert np.abs(ours - ref).max() <= tol
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)


def test_masked_keys_get_zero_weight_and_fully_masked_rows_give_zero():
    q, k, v = _qkv()
    mask = A.padding_mask([3, 7], 7)
    _, w = A.scaled_dot_product_attention(q, k, v, mask)
    assert (w[0, :, :, 3:] == 0).all()
    out, w = A.scaled_dot_product_attention(q, k, v, np.zeros((5, 7), dtype=bool))
    assert (out == 0).all() and (w == 0).all()


def _mha(E=16, heads=4, seed=0):
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(E, heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha


@pytest.mark.parametrize("cross", [False, True])
def test_multi_head_equals_torch(cross):
    mha = _mha()
    r = np.random.default_rng(2)
    xq = r.normal(size=(3, 5, 16))
    xkv = r.normal(size=(3, 9, 16)) if cross else xq
    w = A.MHAWeights.from_torch(mha)
    ours, weights = A.multi_head_attention(xq, xkv, w, 4)
    ref, ref_w = mha(torch.as_tensor(xq), torch.as_tensor(xkv), torch.as_tensor(xkv), average_attn_weights=False)
    assert np.abs(ours - ref.detach().numpy()).max() <= 1e-12
    assert np.abs(weights - ref_w.detach().numpy()).max() <= 1e-12


def test_causal_multi_head_equals_torch():
    mha = _mha(seed=1)
    x = np.random.default_rng(3).normal(size=(2, 6, 16))
    ours, _ = A.multi_head_attention(x, x, A.MHAWeights.from_torch(mha), 4, causal=True)
    tmask = torch.triu(torch.ones(6, 6, dtype=torch.bool), 1)  # torch's attn_mask: True = blocked
    ref = mha(*(torch.as_tensor(x),) * 3, attn_mask=tmask)[0].detach().numpy()
    assert np.abs(ours - ref).max() <= 1e-12


@pytest.mark.tf
def test_multi_head_equals_keras():
    tk.import_tf()
    import keras

    w = A.MHAWeights.from_torch(_mha(seed=2))
    layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, dtype="float64")
    r = np.random.default_rng(4)
    xq, xkv = r.normal(size=(2, 5, 16)), r.normal(size=(2, 8, 16))
    layer(xq, xkv)  # build
    w.to_keras(layer, heads=4)
    ours, _ = A.multi_head_attention(xq, xkv, w, 4)
    assert np.abs(ours - layer(xq, xkv).numpy()).max() <= 1e-12


def test_encoder_block_equals_torch():
    torch.manual_seed(5)
    layer = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True,
                                             dtype=torch.float64).eval()
    x = np.random.default_rng(5).normal(size=(2, 7, 16))
    ours = A.encoder_block(x, A.EncoderWeights.from_torch(layer), 4)
    assert np.abs(ours - layer(torch.as_tensor(x)).detach().numpy()).max() <= 1e-12


def test_sinusoidal_positions():
    pe = A.sinusoidal_positions(50, 16)
    assert pe.shape == (50, 16) and np.allclose(pe[0, 0::2], 0) and np.allclose(pe[0, 1::2], 1)
    assert np.allclose((pe ** 2)[:, 0:2].sum(1), 1)
    with pytest.raises(ValueError, match="d_model must be even"):
        A.sinusoidal_positions(4, 5)


def test_clear_errors():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="q and k must have the same last dimension"):
        A.scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="k and v must have the same length"):
        A.scaled_dot_product_attention(q, k, v[..., :3, :])
    with pytest.raises(TypeError, match="mask must be boolean"):
        A.scaled_dot_product_attention(q, k, v, np.ones((5, 7)))
    with pytest.raises(ValueError, match="does not broadcast against the scores"):
        A.scaled_dot_product_attention(q, k, v, np.ones((5, 6), dtype=bool))
    with pytest.raises(ValueError, match="causal=True needs L_q == L_k"):
        A.scaled_dot_product_attention(q, k, v, causal=True)
    with pytest.raises(ValueError, match="lengths must be"):
        A.padding_mask([0, 3], 5)
    with pytest.raises(ValueError, match="must be divisible by heads"):
        A.multi_head_attention(np.ones((1, 2, 16)), np.ones((1, 2, 16)), A.MHAWeights.from_torch(_mha()), 3)


@pytest.mark.tf
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_equals_keras_ops(causal):
    tk.import_tf()
    import keras

    q, k, v = _qkv(Lq=6, Lk=6, d=16)  # Keras casts 1/sqrt(d) through float32: exact for d = 16
    ours, _ = A.scaled_dot_product_attention(q, k, v, causal=causal)
    # keras.ops wants (batch, length, heads, dim)
    ref = keras.ops.dot_product_attention(*(np.swapaxes(a, 1, 2) for a in (q, k, v)), is_causal=causal)
    assert np.abs(ours - np.swapaxes(np.asarray(ref), 1, 2)).max() <= 1e-12
