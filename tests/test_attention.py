"""Attention from scratch against PyTorch and Keras: fixed cases, random configurations, bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl import attention as A
from troikadl.transformer import TokenEncoder

TOL64 = 1e-10  # float64 results of a few matrix products and softmaxes: rounding is ~1e-15 per operation
CONFIGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    tmask = None if mask is None else torch.as_tensor(mask)
    ref = F.scaled_dot_product_attention(*(torch.as_tensor(a) for a in (q, k, v)), attn_mask=tmask,
                                         is_causal=causal).numpy()  # in the inputs' dtype
    ref64 = F.scaled_dot_product_attention(*(torch.as_tensor(a, dtype=torch.float64) for a in (q, k, v)),
                                           attn_mask=tmask, is_causal=causal).numpy()
    assert ours.dtype == w.dtype == np.float64  # from-scratch code computes in float64, whatever comes in
    assert np.abs(ours - ref64).max() <= 1e-12
    assert np.abs(ours - ref).max() <= tol
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)


@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([None, 1.0, 0.05, 3.0]),
       d=st.integers(1, 6), lq=st.integers(1, 5), lk=st.integers(1, 5))
@CONFIGS
def test_sdpa_random_shapes_and_scales_equal_torch(seed, scale, d, lq, lk):
    r = np.random.default_rng(seed)
    q, k, v = r.normal(size=(2, lq, d)), r.normal(size=(2, lk, d)), r.normal(size=(2, lk, 3))
    mask = r.random((2, lq, lk)) > 0.4
    mask[..., r.integers(lk)] = True  # no fully masked row: PyTorch's output for one is not specified
    ours, _ = A.scaled_dot_product_attention(q, k, v, mask, scale=scale)
    ref = F.scaled_dot_product_attention(*(torch.as_tensor(a) for a in (q, k, v)), attn_mask=torch.as_tensor(mask),
                                         scale=scale).numpy()
    assert np.abs(ours - ref).max() <= TOL64


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.1, 2.5])
def test_sdpa_scale_equals_torch(scale, causal, dtype, tol):
    """``scale`` replaces 1/sqrt(d_k): the output against PyTorch's ``scale=``, the weights against
    softmax(scale * q k^T) computed in the test."""
    q, k, v = _qkv(dtype, Lq=6, Lk=6)
    ours, weights = A.scaled_dot_product_attention(q, k, v, causal=causal, scale=scale)
    t = [torch.as_tensor(a) for a in (q, k, v)]
    ref = F.scaled_dot_product_attention(*t, is_causal=causal, scale=scale).numpy()
    scores = scale * (t[0] @ t[1].transpose(-1, -2))
    if causal:
        scores = scores.masked_fill(torch.triu(torch.ones(6, 6, dtype=torch.bool), 1), -math.inf)
    assert np.abs(ours - ref).max() <= tol
    assert np.abs(weights - torch.softmax(scores, -1).numpy()).max() <= tol


def test_masked_keys_get_zero_weight_and_fully_masked_rows_give_zero():
    q, k, v = _qkv()
    mask = A.padding_mask([3, 7], 7)
    _, w = A.scaled_dot_product_attention(q, k, v, mask)
    assert (w[0, :, :, 3:] == 0).all()
    out, w = A.scaled_dot_product_attention(q, k, v, np.zeros((5, 7), dtype=bool))
    assert (out == 0).all() and (w == 0).all()


def _mha(E=16, heads=4, seed=0, **kwargs):
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(E, heads, batch_first=True, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        for name, p in mha.named_parameters():
            if "bias" in name:
                p.normal_()
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


@st.composite
def _mask_for(draw, r, B, heads, lq, lk, self_attention):
    """(our mask or None, causal, kwargs for torch): torch's boolean masks say True = masked out."""
    kind = draw(st.sampled_from(["none", "padding", "random"] + (["causal"] if self_attention else [])))
    if kind == "none":
        return None, False, {}
    if kind == "causal":
        return None, True, {"attn_mask": torch.triu(torch.ones(lq, lk, dtype=torch.bool), 1)}
    if kind == "padding":
        mask = A.padding_mask(r.integers(1, lk + 1, size=B), lk)
        return mask, False, {"key_padding_mask": torch.as_tensor(~mask[:, 0, 0])}
    mask = r.random((B, heads, lq, lk)) > 0.4
    mask[..., 0] = True
    return mask, False, {"attn_mask": torch.as_tensor(~mask.reshape(B * heads, lq, lk))}


@given(data=st.data(), heads=st.integers(1, 4), d_head=st.integers(1, 4), bias=st.booleans(),
       kdim=st.sampled_from([None, 3, 7]), batch_first=st.booleans(), dropout=st.sampled_from([0.0, 0.3]),
       lq=st.integers(1, 5), lk=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
@CONFIGS
def test_multi_head_random_configurations_equal_torch(data, heads, d_head, bias, kdim, batch_first, dropout,
                                                      lq, lk, seed):
    E, B = heads * d_head, 2
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(E, heads, bias=bias, kdim=kdim, vdim=kdim, batch_first=batch_first,
                                      dropout=dropout, dtype=torch.float64).eval()
    with torch.no_grad():
        for p in mha.parameters():
            p.normal_(0, 0.7)  # random biases too (PyTorch initializes them to zero)
    r = np.random.default_rng(seed)
    self_attention = kdim is None and data.draw(st.booleans(), "self-attention")
    xq = r.normal(size=(B, lq, E))
    xkv = xq if self_attention else r.normal(size=(B, lk, kdim or E))
    lk = xkv.shape[1]
    mask, causal, tmask = data.draw(_mask_for(r, B, heads, lq, lk, self_attention), "mask")
    w = A.MHAWeights.from_torch(mha)
    assert w.heads == heads
    ours, ours_w = A.multi_head_attention(xq, xkv, w, heads, mask, causal=causal)
    t = (lambda a: torch.as_tensor(a)) if batch_first else (lambda a: torch.as_tensor(a).transpose(0, 1))
    ref, ref_w = mha(t(xq), t(xkv), t(xkv), average_attn_weights=False, **tmask)
    ref = ref.detach().numpy() if batch_first else ref.detach().transpose(0, 1).numpy()
    assert np.abs(ours - ref).max() <= TOL64
    assert np.abs(ours_w - ref_w.detach().numpy()).max() <= TOL64


@pytest.mark.parametrize("kwargs, match", [
    ({"add_bias_kv": True}, "add_bias_kv=True is not supported"),
    ({"add_zero_attn": True}, "add_zero_attn=True is not supported"),
    ({"kdim": 3, "vdim": 5}, r"kdim != vdim \(3 and 5\) is not supported"),
])
def test_mha_from_torch_rejects_what_it_does_not_model(kwargs, match):
    with pytest.raises(ValueError, match=match):
        A.MHAWeights.from_torch(torch.nn.MultiheadAttention(8, 2, **kwargs))
    with pytest.raises(TypeError, match="mha must be a torch.nn.MultiheadAttention"):
        A.MHAWeights.from_torch(torch.nn.Linear(8, 8))


def _random_encoder(E, heads, d_ff, seed, **kwargs):
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(E, heads, dim_feedforward=d_ff, dtype=torch.float64, **kwargs).eval()
    with torch.no_grad():
        for name, p in layer.named_parameters():
            p.normal_(1.0 if name.startswith("norm") and name.endswith("weight") else 0.0, 0.5)
    return layer


def test_encoder_block_equals_torch():
    torch.manual_seed(5)
    layer = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True,
                                             dtype=torch.float64).eval()
    x = np.random.default_rng(5).normal(size=(2, 7, 16))
    ours = A.encoder_block(x, A.EncoderWeights.from_torch(layer), 4)
    assert np.abs(ours - layer(torch.as_tensor(x)).detach().numpy()).max() <= 1e-12


@given(heads=st.integers(1, 3), d_head=st.integers(1, 4), d_ff=st.integers(1, 9), bias=st.booleans(),
       norm_first=st.booleans(), activation=st.sampled_from(["relu", "gelu"]),
       eps=st.sampled_from([1e-5, 1e-3, 0.5]), batch_first=st.booleans(), dropout=st.sampled_from([0.0, 0.2]),
       mask_kind=st.sampled_from(["none", "padding", "causal"]), length=st.integers(1, 6),
       seed=st.integers(0, 2**31 - 1))
@CONFIGS
def test_encoder_random_configurations_equal_torch(heads, d_head, d_ff, bias, norm_first, activation, eps,
                                                   batch_first, dropout, mask_kind, length, seed):
    E = heads * d_head
    layer = _random_encoder(E, heads, d_ff, seed, bias=bias, norm_first=norm_first, activation=activation,
                            layer_norm_eps=eps, batch_first=batch_first, dropout=dropout)
    r = np.random.default_rng(seed)
    x = r.normal(size=(2, length, E))
    mask, kwargs = None, {}
    if mask_kind == "padding":
        mask = A.padding_mask(r.integers(1, length + 1, size=2), length)
        kwargs = {"src_key_padding_mask": torch.as_tensor(~mask[:, 0, 0])}  # PyTorch: True = ignore
    elif mask_kind == "causal":
        mask = A.causal_mask(length)
        kwargs = {"src_mask": torch.as_tensor(~mask)}                       # PyTorch: True = masked out
    w = A.EncoderWeights.from_torch(layer)
    assert (w.norm_first, w.activation, w.eps) == (norm_first, activation, eps)
    ours = A.encoder_block(x, w, heads, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch notes that its fast path is not taken
        ref = layer(torch.as_tensor(x if batch_first else x.transpose(1, 0, 2)), **kwargs).detach().numpy()
    ref = ref if batch_first else ref.transpose(1, 0, 2)
    if mask_kind == "padding":  # PyTorch's outputs at padded positions are not defined: compare real tokens
        keep = mask[:, 0, 0]
        ours, ref = ours[keep], ref[keep]
    assert np.abs(ours - ref).max() <= TOL64


@pytest.mark.parametrize("activation, match", [
    (torch.nn.GELU(approximate="tanh"), "is not supported: only relu and the exact gelu"),
    (torch.tanh, "is not supported: only relu and the exact gelu"),
])
def test_encoder_from_torch_rejects_other_activations(activation, match):
    with pytest.raises(ValueError, match=match):
        A.EncoderWeights.from_torch(torch.nn.TransformerEncoderLayer(8, 2, 16, activation=activation))
    with pytest.raises(TypeError, match="layer must be a torch.nn.TransformerEncoderLayer"):
        A.EncoderWeights.from_torch(torch.nn.TransformerDecoderLayer(8, 2, 16))


def test_framework_mask_conventions():
    """The chapter's claim: F.scaled_dot_product_attention's True = may attend; nn.MultiheadAttention's and
    nn.TransformerEncoderLayer's boolean masks: True = masked out. Ours follows the first."""
    allow = torch.tensor([[True, True, False]])
    q, k = torch.zeros(1, 1, 1, 4, dtype=torch.float64), torch.randn(1, 1, 3, 4, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)[None, None]  # values = one-hot: the output is the weights
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, eye, attn_mask=allow).ravel(), [0.5, 0.5, 0])
    ours, _ = A.scaled_dot_product_attention(q.numpy(), k.numpy(), eye.numpy(), allow.numpy())
    np.testing.assert_allclose(ours.ravel(), [0.5, 0.5, 0])
    mha = torch.nn.MultiheadAttention(4, 1, batch_first=True, dtype=torch.float64)  # zero biases: q = 0
    xq, xkv = torch.zeros(1, 1, 4, dtype=torch.float64), torch.randn(1, 3, 4, dtype=torch.float64)
    for kwargs in ({"attn_mask": allow}, {"key_padding_mask": allow}):
        np.testing.assert_allclose(mha(xq, xkv, xkv, **kwargs)[1].detach().ravel(), [0, 0, 1])


def test_permutation_invariance_and_equivariance():
    """Permuting key-value pairs leaves the output unchanged; permuting self-attention's tokens permutes it.
    Ours on permuted inputs is compared with PyTorch's module on the original ones."""
    mha = _mha(seed=3)
    w = A.MHAWeights.from_torch(mha)
    r = np.random.default_rng(3)
    xq, xkv, perm = r.normal(size=(2, 5, 16)), r.normal(size=(2, 8, 16)), r.permutation(8)
    tq, tkv = torch.as_tensor(xq), torch.as_tensor(xkv)
    cross = mha(tq, tkv, tkv)[0].detach().numpy()
    assert np.abs(A.multi_head_attention(xq, xkv[:, perm], w, 4)[0] - cross).max() <= 1e-12
    self_out = mha(tkv, tkv, tkv)[0].detach().numpy()
    assert np.abs(A.multi_head_attention(xkv[:, perm], xkv[:, perm], w, 4)[0] - self_out[:, perm]).max() <= 1e-12
    blocked = torch.triu(torch.ones(8, 8, dtype=torch.bool), 1)  # torch: True = masked out
    causal = mha(tkv, tkv, tkv, attn_mask=blocked)[0].detach().numpy()  # a causal mask breaks equivariance
    permuted = A.multi_head_attention(xkv[:, perm], xkv[:, perm], w, 4, causal=True)[0]
    assert np.abs(permuted - causal[:, perm]).max() > 1e-3


@pytest.mark.tf
def test_multi_head_equals_keras():
    tk.import_tf()
    import keras

    mha = _mha(seed=2)
    w = A.MHAWeights.from_torch(mha)
    layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, dtype="float64")
    r = np.random.default_rng(4)
    xq, xkv = r.normal(size=(2, 5, 16)), r.normal(size=(2, 8, 16))
    layer(xq, xkv)  # build
    assert w.copy_to_keras(layer) is None  # fills the given layer, builds nothing
    ref = mha(*(torch.as_tensor(a) for a in (xq, xkv, xkv)))[0].detach().numpy()
    assert np.abs(layer(xq, xkv).numpy() - ref).max() <= 1e-12  # the copied layer computes what torch's does
    assert np.abs(A.multi_head_attention(xq, xkv, w, 4)[0] - ref).max() <= 1e-12


@pytest.mark.tf
@given(data=st.data(), heads=st.integers(1, 3), d_head=st.sampled_from([1, 4, 16]), bias=st.booleans(),
       kdim=st.sampled_from([None, 5]), lq=st.integers(1, 4), lk=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_multi_head_random_configurations_equal_keras(data, heads, d_head, bias, kdim, lq, lk, seed):
    """Keras multiplies by 1/sqrt(d_head) rounded to float32: exact for d_head in {1, 4, 16}.

    Left out: a Keras bug (3.15.1, TensorFlow backend). ``keras.ops.add(x, b)`` squeezes a bias ``b`` of shape
    (heads, 1) to a vector and, when ``x.shape[1]`` equals its length, adds it along axis 1 (``tf.nn.bias_add``
    with "NCHW"): with d_head = 1 and a sequence of ``heads`` tokens, Keras's own projections then differ from
    ``x @ kernel + bias`` computed from its own weights (by 0.2 on the example hypothesis found)."""
    assume(not (bias and d_head == 1 and heads > 1 and heads in (lq, lk)))
    tk.import_tf()
    import keras

    E = heads * d_head
    mha = _mha(E, heads, seed=seed % 1000, bias=bias, kdim=kdim, vdim=kdim)
    w = A.MHAWeights.from_torch(mha)
    r = np.random.default_rng(seed)
    xq, xkv = r.normal(size=(2, lq, E)), r.normal(size=(2, lk, kdim or E))
    mask = r.random((2, lq, lk)) > 0.4 if data.draw(st.booleans(), "masked") else None
    if mask is not None:
        mask[..., 0] = True
    layer = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=d_head, use_bias=bias, dtype="float64")
    layer(xq, xkv)
    w.copy_to_keras(layer)
    theirs = layer(xq, xkv, attention_mask=mask).numpy()  # Keras: True = may attend, like ours
    blocked = {} if mask is None else {"attn_mask": torch.as_tensor(~np.repeat(mask, heads, axis=0))}  # torch's
    ref = mha(*(torch.as_tensor(a) for a in (xq, xkv, xkv)), **blocked)[0].detach().numpy()
    assert np.abs(theirs - ref).max() <= TOL64  # Keras's layer, filled by copy_to_keras, against torch's module
    ours, _ = A.multi_head_attention(xq, xkv, w, heads, None if mask is None else mask[:, None])
    assert np.abs(ours - ref).max() <= TOL64


@pytest.mark.tf
def test_copy_to_keras_checks_the_layer():
    tk.import_tf()
    import keras

    w = A.MHAWeights.from_torch(_mha())
    x = np.zeros((1, 2, 16))
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, dtype="float64")
    layer(x, x)
    with pytest.raises(ValueError, match="layer must have num_heads=4, key_dim=4"):
        w.copy_to_keras(layer)  # another head count: refused, the weights know their own (4)
    nobias = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, use_bias=False, dtype="float64")
    nobias(x, x)
    with pytest.raises(ValueError, match="use_bias=False but these weights have non-zero biases"):
        w.copy_to_keras(nobias)
    unbuilt = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, dtype="float64")
    with pytest.raises(ValueError, match=r"layer must be built \(called once\)"):
        w.copy_to_keras(unbuilt)
    narrow_kv = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, dtype="float64")
    narrow_kv(x, np.zeros((1, 2, 8)))  # keys and values of width 8, not the weights' 16
    with pytest.raises(ValueError, match="keys and values of width 16"):
        w.copy_to_keras(narrow_kv)
    with pytest.raises(TypeError, match="layer must be a keras.layers.MultiHeadAttention"):
        w.copy_to_keras(keras.layers.Dense(4))
    import inspect

    if "sliding_window" not in inspect.signature(keras.layers.MultiHeadAttention.__init__).parameters:
        return  # older Keras has none (3.8, the oldest the package allows; 3.15 has it)
    windowed = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, sliding_window=2, dtype="float64")
    windowed(x, x)
    with pytest.raises(ValueError, match="use_gate and sliding_window are not modelled"):
        w.copy_to_keras(windowed)


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

def _vaswani_positions(length, d):
    """Vaswani et al. (2017), section 3.5, entry by entry: PE[pos, 2i] = sin(pos / 10000^(2i/d)) and
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d)), for i = 0 .. d/2 - 1."""
    pe = np.empty((length, d))
    for pos in range(length):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


@pytest.mark.parametrize("length, d", [(1, 2), (9, 2), (5, 4), (12, 6), (50, 16), (100, 64), (30, 10)])
def test_sinusoidal_positions_follow_vaswani_et_al(length, d):
    pe = A.sinusoidal_positions(length, d)
    assert pe.shape == (length, d) and pe.dtype == np.float64
    assert np.abs(pe - _vaswani_positions(length, d)).max() <= 1e-12  # angles <= 100: ~1e-14 of rounding


@pytest.mark.parametrize("d", [1, 3, 5, 17])
def test_sinusoidal_positions_refuse_an_odd_width(d):
    """The formula pairs a sine with a cosine: an odd d_model has no pair for its last column."""
    with pytest.raises(ValueError, match=f"d_model must be even, got {d}"):
        A.sinusoidal_positions(4, d)


def test_layer_norm_equals_torch():
    r = np.random.default_rng(8)
    x, g, b = r.normal(size=(3, 4, 6)), r.normal(size=6), r.normal(size=6)
    ref = F.layer_norm(torch.as_tensor(x), (6,), torch.as_tensor(g), torch.as_tensor(b), eps=0.1).numpy()
    assert np.abs(A.layer_norm(x, g, b, eps=0.1) - ref).max() <= 1e-12


def test_weights_remember_their_head_count_and_refuse_another():
    """The weights of a 4-head module, split into 2 heads, compute something else (0.19 from torch's output
    here): a head count given to a function must be the one the weights were read with."""
    mha = _mha(seed=4)
    w = A.MHAWeights.from_torch(mha)
    assert w.heads == 4
    x = np.random.default_rng(4).normal(size=(2, 5, 16))
    ref = mha(*(torch.as_tensor(x),) * 3)[0].detach().numpy()
    as_two = A.MHAWeights(w.Wq, w.Wk, w.Wv, w.Wo, w.bq, w.bk, w.bv, w.bo, heads=2)
    assert np.abs(A.multi_head_attention(x, x, as_two, 2)[0] - ref).max() > 1e-3
    for wrong in (1, 2, 8):
        with pytest.raises(ValueError, match=rf"heads must be the 4 heads .*got heads = {wrong}"):
            A.multi_head_attention(x, x, w, wrong)
    layer = _random_encoder(16, 4, 8, seed=4, batch_first=True)
    with pytest.raises(ValueError, match=r"heads must be the 4 heads .*\(w.attn.heads = 4\), got heads = 2"):
        A.encoder_block(x, A.EncoderWeights.from_torch(layer), 2)


def _token_encoder(positions, seed=0):
    torch.manual_seed(seed)
    model = TokenEncoder(vocab_size=11, length=7, d_model=8, heads=2, layers=2, d_ff=16, n_out=5, positions=positions)
    return model.double().eval()


def _token_encoder_in_numpy(model, ids, positions):
    """The model's forward in float64 NumPy from its weights, with the positions written in the test and the
    blocks computed by ``encoder_block`` (checked equal to nn.TransformerEncoderLayer above); also each
    layer's attention weights, from ``multi_head_attention`` on that layer's input."""
    weights = lambda t: t.detach().numpy()  # noqa: E731
    x = weights(model.tokens.weight)[ids]
    if positions == "sinusoidal":
        x = x + _vaswani_positions(ids.shape[1], 8)
    elif positions == "learned":
        x = x + weights(model.positions.weight)[: ids.shape[1]]
    maps = []
    for block in model.blocks:
        w = A.EncoderWeights.from_torch(block)
        maps.append(A.multi_head_attention(x, x, w.attn, 2)[1])
        x = A.encoder_block(x, w, 2)
    return x @ weights(model.readout.weight).T + weights(model.readout.bias), maps


# The sinusoidal table is stored in float32 (entries in [-1, 1] rounded by <= 2**-24 = 6e-8); the rest is float64.
TOL_TABLE32 = 1e-6


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "none"])
def test_token_encoder_positions_and_attention_maps_equal_a_numpy_computation(positions):
    model = _token_encoder(positions)
    ids = np.random.default_rng(6).integers(0, 11, size=(3, 5))  # shorter than the model's length 7
    logits, maps = _token_encoder_in_numpy(model, ids, positions)
    ours = model(torch.as_tensor(ids)).detach().numpy()
    assert ours.shape == (3, 5, 5) and np.abs(ours - logits).max() <= TOL_TABLE32
    theirs = model.attention_maps(torch.as_tensor(ids))
    assert len(theirs) == 2 and all(tuple(m.shape) == (3, 2, 5, 5) for m in theirs)
    for layer, (m, ref) in enumerate(zip(theirs, maps)):
        assert np.abs(m.numpy() - ref).max() <= TOL_TABLE32, f"layer {layer}"


@pytest.mark.parametrize("positions, equivariant", [("none", True), ("learned", False), ("sinusoidal", False)])
def test_token_encoder_without_positions_is_permutation_equivariant(positions, equivariant):
    """Without positions an encoder cannot tell where a token stands: permuting the tokens permutes the
    output. With learned or sinusoidal positions it can."""
    model = _token_encoder(positions, seed=1)
    ids = torch.as_tensor(np.random.default_rng(7).integers(0, 11, size=(2, 7)))
    perm = torch.as_tensor(np.random.default_rng(8).permutation(7))
    gap = (model(ids[:, perm]) - model(ids)[:, perm]).abs().max().item()
    assert gap <= 1e-12 if equivariant else gap > 1e-3


def test_clear_errors():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="q and k must have the same last dimension"):
        A.scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="k and v must have the same length"):
        A.scaled_dot_product_attention(q, k, v[..., :3, :])
    with pytest.raises(TypeError, match="mask must be boolean"):
        A.scaled_dot_product_attention(q, k, v, np.ones((5, 7)))
    with pytest.raises(ValueError, match="does not broadcast to the scores"):
        A.scaled_dot_product_attention(q, k, v, np.ones((5, 6), dtype=bool))
    with pytest.raises(ValueError, match="causal=True needs L_q == L_k"):
        A.scaled_dot_product_attention(q, k, v, causal=True)
    with pytest.raises(ValueError, match=r"lengths must hold values in \[1, 5\]"):
        A.padding_mask([0, 3], 5)
    with pytest.raises(ValueError, match="heads must be the 4 heads the weights were built with"):
        A.multi_head_attention(np.ones((1, 2, 16)), np.ones((1, 2, 16)), A.MHAWeights.from_torch(_mha()), 3)


_Q, _K, _V = _qkv()
_W = A.MHAWeights.from_torch(_mha())
_X = np.ones((1, 2, 16))
_ENC = A.EncoderWeights.from_torch(_random_encoder(16, 4, 8, 0))
_BAD = [
    # scaled_dot_product_attention
    (lambda: A.scaled_dot_product_attention(_Q + 1j, _K, _V), TypeError, "q must hold real numbers"),
    (lambda: A.scaled_dot_product_attention(np.full((2, 3), "a"), _K, _V), TypeError, "q must hold numbers"),
    (lambda: A.scaled_dot_product_attention(_Q, _K * np.nan, _V), ValueError, "k must be finite"),
    (lambda: A.scaled_dot_product_attention(_Q[0, 0, 0], _K, _V), ValueError, "same number .* of dimensions"),
    (lambda: A.scaled_dot_product_attention(_Q, _K[..., :0, :], _V[..., :0, :]), ValueError, "at least one position"),
    (lambda: A.scaled_dot_product_attention(_Q[:, :2], _K, _V), ValueError, "leading .* dimensions"),
    (lambda: A.scaled_dot_product_attention(_Q, _K, _V, scale=float("nan")), ValueError, "scale must be > 0"),
    (lambda: A.scaled_dot_product_attention(_Q, _K, _V, scale=-1.0), ValueError, "scale must be > 0"),
    (lambda: A.scaled_dot_product_attention(_Q, _K, _V, scale="2"), TypeError, "scale must be a number"),
    (lambda: A.scaled_dot_product_attention(_Q, _K, _V, np.ones((4, 2, 3, 5, 7), bool)), ValueError,
     r"mask of shape \(4, 2, 3, 5, 7\) does not broadcast"),
    (lambda: A.scaled_dot_product_attention(_Q, _K, _V, causal=1), TypeError, "causal must be True or False"),
    # masks
    (lambda: A.causal_mask(0), ValueError, "length must be > 0"),
    (lambda: A.causal_mask(2.5), TypeError, "length must be an integer"),
    (lambda: A.padding_mask([2.5, 3], 5), ValueError, "lengths must hold whole numbers"),
    (lambda: A.padding_mask(["2"], 5), TypeError, "lengths must hold numbers"),
    (lambda: A.padding_mask([[1]], 5), ValueError, "lengths must be 1-D"),
    (lambda: A.padding_mask([], 5), ValueError, "lengths must not be empty"),
    (lambda: A.padding_mask([2, 6], 5), ValueError, r"lengths must hold values in \[1, 5\]"),
    (lambda: A.padding_mask([6], 5), ValueError, r"values in \[1, 5\]"),
    (lambda: A.padding_mask([1], 0), ValueError, "max_length must be > 0"),
    # multi-head attention and its weights
    (lambda: A.multi_head_attention(_X, _X, _W, 0), ValueError, "heads must be > 0"),
    (lambda: A.multi_head_attention(_X, _X, _W, 2.0), TypeError, "heads must be an integer"),
    (lambda: A.multi_head_attention(_X, _X, _W, 2), ValueError, r"heads must be the 4 heads .*\(w.heads = 4\)"),
    (lambda: A.multi_head_attention(_X[0], _X, _W, 4), ValueError, "x_q must be 3-D"),
    (lambda: A.multi_head_attention(_X, _X[..., :8], _W, 4), ValueError, "x_kv 16, got shapes"),
    (lambda: A.multi_head_attention(_X, np.ones((2, 2, 16)), _W, 4), ValueError, "same batch size"),
    (lambda: A.multi_head_attention(_X.astype(complex), _X, _W, 4), TypeError, "x_q must hold real numbers"),
    (lambda: A.multi_head_attention(_X, _X, "weights", 4), TypeError, "w must be MHAWeights"),
    (lambda: A.multi_head_attention(_X, _X, _W, 4, np.ones((1, 4, 2, 3), bool)), ValueError, "does not broadcast"),
    (lambda: A.MHAWeights(_W.Wq, _W.Wk[:, :3], _W.Wv, _W.Wo, _W.bq, _W.bk, _W.bv, _W.bo, heads=4), ValueError,
     r"Wv must have shape \(16, 3\)"),
    (lambda: A.MHAWeights(_W.Wq, _W.Wk, _W.Wv, _W.Wo, _W.bq[:4], _W.bk, _W.bv, _W.bo, heads=4), ValueError,
     r"bq must have shape \(16,\)"),
    (lambda: A.MHAWeights(_W.Wq, _W.Wk, _W.Wv, _W.Wo, _W.bq, _W.bk, _W.bv, _W.bo), TypeError, "heads"),
    (lambda: A.MHAWeights(_W.Wq, _W.Wk, _W.Wv, _W.Wo, _W.bq, _W.bk, _W.bv, _W.bo, heads=3), ValueError,
     "d_model 16 must be divisible by heads 3"),
    (lambda: A.MHAWeights(_W.Wq, _W.Wk, _W.Wv, _W.Wo, _W.bq, _W.bk, _W.bv, _W.bo, heads=0), ValueError,
     "heads must be > 0"),
    (lambda: A.MHAWeights(_W.Wq, _W.Wk, _W.Wv, _W.Wo, _W.bq, _W.bk, _W.bv, _W.bo, heads=4.0), TypeError,
     "heads must be an integer"),
    # positions, layer norm, softmax, encoder block
    (lambda: A.sinusoidal_positions(0, 4), ValueError, "length must be > 0"),
    (lambda: A.sinusoidal_positions(4, 4.0), TypeError, "d_model must be an integer"),
    (lambda: A.layer_norm(_X, np.ones(16), np.zeros(16), eps=0.0), ValueError, "eps must be > 0"),
    (lambda: A.layer_norm(_X, np.ones(8), np.zeros(16)), ValueError, r"gamma and beta must have shape \(16,\)"),
    (lambda: A.softmax(np.array([1.0, np.nan])), ValueError, "z must not hold NaN"),
    (lambda: A.softmax(np.array([1 + 1j])), TypeError, "z must hold real numbers"),
    (lambda: A.softmax(np.ones((2, 3)), axis=2), ValueError, "axis must be <= 1"),
    (lambda: A.softmax(np.ones((2, 3)), axis=-3), ValueError, "axis must be >= -2"),
    (lambda: A.softmax(np.ones((2, 3)), axis=1.0), TypeError, "axis must be an integer"),
    (lambda: A.encoder_block(_X, _ENC, 0), ValueError, "heads must be > 0"),
    (lambda: A.encoder_block(_X, _ENC, 2), ValueError, r"heads must be the 4 heads .*\(w.attn.heads = 4\)"),
    (lambda: A.encoder_block(_X[..., :8], _ENC, 4), ValueError, "x must have d_model = 16"),
    (lambda: A.layer_norm(np.ones((0, 16)), np.ones(16), np.zeros(16)), ValueError, "x must be non-empty"),
    (lambda: A.encoder_block(_X, _W, 4), TypeError, "w must be EncoderWeights"),
    (lambda: A.EncoderWeights(_W, _ENC.W1, _ENC.b1, _ENC.W2, _ENC.b2, _ENC.ln1, _ENC.ln2, activation="tanh"),
     ValueError, "activation must be one of"),
    (lambda: A.EncoderWeights(_W, _ENC.W1[:, :3], _ENC.b1, _ENC.W2, _ENC.b2, _ENC.ln1, _ENC.ln2), ValueError,
     r"W1 must have shape \(8, 16\)"),
    # TokenEncoder
    (lambda: TokenEncoder(10, 5, heads=0), ValueError, "heads must be > 0"),
    (lambda: TokenEncoder(10, 5, d_model=30, heads=4), ValueError, "d_model 30 must be divisible by heads 4"),
    (lambda: TokenEncoder(10, 5, d_ff=0), ValueError, "d_ff must be > 0"),
    (lambda: TokenEncoder(10, 5, n_out=2.5), TypeError, "n_out must be an integer"),
    (lambda: TokenEncoder(10, 5, positions="rotary"), ValueError, "positions must be 'learned'"),
    (lambda: TokenEncoder(10, 5, d_model=6, heads=2, positions="sinusoidal", layers=1)(torch.zeros(2, 5)),
     TypeError, "ids must hold integer token ids"),
    (lambda: TokenEncoder(10, 5, d_model=6, heads=2, layers=1)(np.zeros((2, 5), int)), TypeError,
     "ids must be a torch tensor"),
    (lambda: TokenEncoder(10, 5, d_model=6, heads=2, layers=1)(torch.full((2, 5), 10)), ValueError,
     r"ids must be in \[0, 10\)"),
    (lambda: TokenEncoder(10, 5, d_model=6, heads=2, layers=1)(torch.zeros(2, 6, dtype=torch.long)), ValueError,
     r"ids must be \(batch, length <= 5\)"),
]


@pytest.mark.parametrize("call, error, match", _BAD, ids=[m for _, _, m in _BAD])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
