"""Rotary position embeddings (chapter 6): checked equal to Hugging Face's Llama implementation and to the 2-D
rotation of each pair written from the definition; the relative property and the norms checked numerically."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

from troikadl.transformer import apply_rope, rope_angles


def _hf_cos_sin(x, position_ids, base):
    heads, d = x.shape[1], x.shape[-1]
    cfg = LlamaConfig(hidden_size=heads * d, num_attention_heads=heads, head_dim=d, rope_theta=base,
                      max_position_embeddings=256)
    return LlamaRotaryEmbedding(cfg)(x, position_ids)


def _qk(seed, batch, heads, length, d, dtype):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, d, generator=g, dtype=torch.float64).to(dtype) for _ in range(2)]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3), heads=st.integers(1, 3), length=st.integers(1, 12),
       half=st.integers(1, 8), base=st.sampled_from([10000.0, 500.0, 1e6]), offset=st.integers(0, 40))
def test_float32_equals_hugging_face_llama(seed, batch, heads, length, half, base, offset):
    q, k = _qk(seed, batch, heads, length, 2 * half, torch.float32)
    pos = offset + torch.arange(length)[None].expand(batch, length) + torch.arange(batch)[:, None]  # per row
    theirs = apply_rotary_pos_emb(q, k, *_hf_cos_sin(q, pos, base))
    ours = apply_rope(q, pos[:, None, :], base=base), apply_rope(k, pos[:, None, :], base=base)
    for a, b in zip(ours, theirs):
        assert a.dtype == torch.float32 and torch.allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("base", [10000.0, 100.0])
def test_float64(base):
    """HF computes the angles in float32: ours match them to float32 precision, and the rotation built from our
    float64 angles equals HF's ``apply_rotary_pos_emb`` to 1e-12; plus the definition, pair by pair."""
    q, k = _qk(1, 2, 3, 20, 10, torch.float64)
    pos = torch.arange(20)[None].expand(2, 20)
    cos, sin = rope_angles(pos, 10, base=base)
    hf_cos, hf_sin = _hf_cos_sin(q, pos, base)
    assert torch.allclose(cos, hf_cos, atol=2e-6) and torch.allclose(sin, hf_sin, atol=2e-6)
    theirs = apply_rotary_pos_emb(q, k, cos, sin)
    assert torch.allclose(apply_rope(q, pos[:, None, :], base=base), theirs[0], rtol=0, atol=1e-12)
    assert torch.allclose(apply_rope(k, torch.arange(20), base=base), theirs[1], rtol=0, atol=1e-12)
    x, d = q[0, 0].numpy(), 10  # the definition: pair i = dims (i, i + d/2) turned by m * base^(-2i/d)
    want = np.empty_like(x)
    for m in range(20):
        for i in range(d // 2):
            t = m * base ** (-2 * i / d)
            a, b = x[m, i], x[m, i + d // 2]
            want[m, i], want[m, i + d // 2] = a * math.cos(t) - b * math.sin(t), a * math.sin(t) + b * math.cos(t)
    assert np.abs(apply_rope(q[0, 0], torch.arange(20), base=base).numpy() - want).max() <= 1e-12


def test_scores_depend_only_on_the_distance_and_norms_are_kept():
    q, k = (v[0, 0, 0] for v in _qk(2, 1, 1, 1, 16, torch.float64))
    rot = lambda v, m: apply_rope(v[None], torch.tensor([m]))[0]  # noqa: E731
    for m, n in [(5, 2), (2, 5), (40, 40), (100, 7)]:
        ref = rot(q, m - n) @ rot(k, 0)
        for shift in (0, 3, 250):
            assert abs(rot(q, m + shift) @ rot(k, n + shift) - ref) <= 1e-10
    assert abs(rot(q, 9) @ rot(k, 2) - rot(q, 2) @ rot(k, 9)) > 1e-2  # m - n, not |m - n|
    x = _qk(3, 2, 2, 30, 8, torch.float64)[0]
    assert torch.allclose(apply_rope(x, torch.arange(30)).norm(dim=-1), x.norm(dim=-1), rtol=0, atol=1e-12)
    assert torch.equal(apply_rope(x, torch.zeros(30)), x)  # position 0: no rotation


def test_bad_input():
    x = torch.zeros(4, 6)
    with pytest.raises(ValueError, match="d_head"):
        apply_rope(torch.zeros(4, 5), torch.arange(4))
    with pytest.raises(ValueError, match="positions"):
        apply_rope(x, torch.arange(3))
    with pytest.raises(TypeError, match="x"):
        apply_rope(torch.zeros(4, 6, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError, match="base"):
        rope_angles(torch.arange(4), 6, base=1.0)
