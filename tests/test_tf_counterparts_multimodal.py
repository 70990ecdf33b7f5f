"""TensorFlow counterparts of chapter 11's from-scratch pieces: the ViT patch embedding is a Keras ``Conv2D`` with
kernel size = stride = patch, and the multi-positive contrastive loss is TensorFlow's soft-label cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import troikadl as tk
from troikadl import vit
from troikadl.fusion import contrastive as C

pytestmark = pytest.mark.tf


@settings(max_examples=12, deadline=None)
@given(patch=st.sampled_from([1, 2, 4]), channels=st.integers(1, 3), d_model=st.integers(1, 6), bias=st.booleans(),
       seed=st.integers(0, 10_000))
def test_patch_tokens_equal_a_keras_strided_conv(patch, channels, d_model, bias, seed):
    tk.import_tf()
    import keras

    torch.manual_seed(seed)
    emb = vit.PatchEmbedding(image_size=8, patch=patch, channels=channels, d_model=d_model, bias=bias).double()
    x = torch.randn(3, channels, 8, 8, dtype=torch.float64)
    ours = emb.proj(vit.patchify(x, patch)).detach().numpy()  # (B, N, D), patches in reading order
    conv = keras.layers.Conv2D(d_model, patch, strides=patch, use_bias=bias, dtype="float64")
    conv.build((None, 8, 8, channels))
    kernel = emb.proj.weight.detach().numpy().reshape(d_model, channels, patch, patch).transpose(2, 3, 1, 0)
    conv.set_weights([kernel, emb.proj.bias.detach().numpy()] if bias else [kernel])
    theirs = np.asarray(conv(x.numpy().transpose(0, 2, 3, 1)))  # (B, H/p, W/p, D), channels last
    np.testing.assert_allclose(ours, theirs.reshape(3, -1, d_model), rtol=0, atol=1e-12)


@settings(max_examples=12, deadline=None)
@given(groups=st.lists(st.integers(0, 3), min_size=1, max_size=9), seed=st.integers(0, 10_000))
def test_multi_positive_soft_loss_equals_tensorflows_soft_label_cross_entropy(groups, seed):
    tf = tk.import_tf()
    g = np.array(groups)
    logits = np.random.default_rng(seed).normal(size=(len(g), len(g))) * 3
    same = (g[:, None] == g[None, :]).astype(np.float64)
    target = same / same.sum(1, keepdims=True)  # symmetric, so the columns' targets are the same matrix
    ref = (tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits))
           + tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits.T))) / 2
    ours = C.multi_positive_loss(torch.tensor(logits), torch.tensor(g), mode="soft")
    assert float(ours) == pytest.approx(float(ref), rel=1e-12, abs=1e-12)
