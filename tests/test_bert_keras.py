"""Chapter 7's BERT in Keras 3 (``troikadl.bert.keras_model``) checked equal to the PyTorch ``Bert``.

The torch model is itself checked equal to Hugging Face's ``BertForPreTraining`` (tests/test_bert.py); here
Keras computes the same logits from the same weights, in float32 and float64, with padding, for random
configurations, and its gradients (the tied token matrix included) equal torch's. Weights are perturbed
away from BERT's N(0, 0.02) initialization so that every pre-activation is of order one: with tiny weights
the exact and the tanh-approximate GELU would agree to 1e-8 and a mistake there would go unseen.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from troikadl.bert import Bert, BertSettings
from troikadl.bert.keras_model import from_keras, keras_inputs, to_keras

pytestmark = pytest.mark.tf

# Stated tolerances, relative to the largest logit (logits here are of order 1-10). float32: rounding summed
# differently by TensorFlow and PyTorch. float64: 1e-7, not ~1e-12, because TensorFlow/Keras round two
# constants through float32 even in float64 layers (tf.cast of a Python float): Keras 3.15's
# MultiHeadAttention scale 1/sqrt(d_head), and the 1/sqrt(2) inside tf.nn.gelu(approximate=False) (TF 2.21
# nn_ops.py); each is a relative error of ~1e-8. A planted bug (tanh GELU, mask dropped) moves logits by >1e-3.
TOL = {torch.float32: 1e-5, torch.float64: 1e-7}


def _bert(seed, dtype=torch.float32, *, vocab_size=120, hidden=32, heads=2, layers=2, intermediate=64,
          max_length=16, segments=2):
    """A torch Bert with every parameter moved by N(0, 0.3) noise (layer-norm gains near 1, biases non-zero)."""
    s = BertSettings(vocab_size=vocab_size, hidden=hidden, layers=layers, heads=heads, intermediate=intermediate,
                     max_length=max_length, segments=segments)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Bert(s).eval().to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype))
    return model


def _batch(seed, batch, length, vocab_size, segments=2):
    """Token ids, segment ids split at a random place, and a padding mask keeping a random prefix (>= 1)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab_size, (batch, length))
    seg = (np.arange(length) >= rng.integers(1, length + 1, (batch, 1))) * rng.integers(1, segments + 1, (batch, 1))
    seg = np.minimum(seg, segments - 1)
    mask = (np.arange(length) < rng.integers(1, length + 1, (batch, 1))).astype(np.int64)
    return ids, seg.astype(np.int64), mask


def _torch(model, ids, seg=None, mask=None):
    as_t = lambda a: None if a is None else torch.as_tensor(a)  # noqa: E731
    with torch.no_grad():
        mlm, nsp = model(as_t(ids), as_t(seg), as_t(mask))
    return mlm.numpy(), nsp.numpy()


def _keras(keras_model, ids, seg=None, mask=None):
    mlm, nsp = keras_model(keras_inputs(keras_model, ids, seg, mask))
    return np.asarray(mlm), np.asarray(nsp)


def _assert_close(ours, theirs, tol, dtype):
    for a, b, what in zip(ours, theirs, ("MLM", "NSP")):
        assert a.dtype == b.dtype == {torch.float32: np.float32, torch.float64: np.float64}[dtype], what
        assert a.shape == b.shape, what
        err = np.abs(a - b).max() / max(1.0, np.abs(a).max())
        assert err <= tol, (what, err)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_keras_bert_equals_torch_with_padding(dtype):
    model = _bert(0, dtype)
    keras_model = to_keras(model)
    ids = np.random.default_rng(0).integers(5, 120, (3, 12))
    seg = np.zeros_like(ids)
    seg[:, 6:] = 1
    mask = np.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 3:] = 0
    theirs = _keras(keras_model, ids, seg, mask)
    _assert_close(_torch(model, ids, seg, mask), theirs, TOL[dtype], dtype)
    assert np.abs(theirs[0]).max() > 1.0  # logits of order one: the tolerance is not loose relative to them
    # no mask at all (keras_inputs fills in ones) is the same as torch's attention_mask=None
    free = _keras(keras_model, ids, seg)
    _assert_close(_torch(model, ids, seg), free, TOL[dtype], dtype)
    # and the padding matters, so the first comparison did test the mask
    assert np.abs(free[0][1, :8] - theirs[0][1, :8]).max() > 1e-3


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from([(16, 1), (12, 3), (8, 8), (32, 2), (24, 4)]), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 10), st.integers(1, 3), st.booleans())
def test_keras_bert_equals_torch_random_configurations(seed, width, layers, batch, length, segments, float64):
    """Random sizes (one head or many, one segment or three), lengths from 1, padding and segment splits."""
    hidden, heads = width
    dtype = torch.float64 if float64 else torch.float32
    model = _bert(seed, dtype, vocab_size=40, hidden=hidden, heads=heads, layers=layers,
                  intermediate=2 * hidden + 4, max_length=10, segments=segments)
    ids, seg, mask = _batch(seed, batch, length, 40, segments)
    _assert_close(_torch(model, ids, seg, mask), _keras(to_keras(model), ids, seg, mask), TOL[dtype], dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_keras_reads_weights_changed_in_keras(dtype):
    """Weights changed on the Keras side (as training would) come back: torch then computes what Keras does.
    One token matrix serves as input embedding and MLM decoder in both, so the parameter counts agree."""
    keras_model = to_keras(_bert(1, dtype))
    rng = np.random.default_rng(1)
    keras_model.set_weights([w + rng.normal(0.0, 0.3, w.shape).astype(w.dtype) for w in keras_model.get_weights()])
    model = from_keras(keras_model)
    assert model.tokens.weight.dtype == dtype and not model.training
    assert keras_model.count_params() == sum(p.numel() for p in model.parameters())
    ids, seg, mask = _batch(1, 3, 9, 120)
    _assert_close(_torch(model, ids, seg, mask), _keras(keras_model, ids, seg, mask), TOL[dtype], dtype)


def test_keras_gradients_equal_torch_tied_embedding_included():
    """The gradient of a fixed linear function of both heads' logits, float64: Keras (TensorFlow's tape) and
    torch agree for every weight. The token matrix receives the sum of its input and decoder uses in both."""
    import tensorflow as tf

    model = _bert(2, torch.float64, layers=1)
    keras_model = to_keras(model)
    ids, seg, mask = _batch(2, 2, 7, 120)
    rng = np.random.default_rng(2)
    wm, wn = rng.normal(size=(2, 7, 120)), rng.normal(size=(2, 2))
    mlm, nsp = model(*(torch.as_tensor(a) for a in (ids, seg, mask)))
    ((mlm * torch.as_tensor(wm)).sum() + (nsp * torch.as_tensor(wn)).sum()).backward()
    with tf.GradientTape() as tape:
        k_mlm, k_nsp = keras_model(keras_inputs(keras_model, ids, seg, mask))
        loss = tf.reduce_sum(k_mlm * wm) + tf.reduce_sum(k_nsp * wn)
    grads = dict(zip((v.path for v in keras_model.trainable_weights),
                     tape.gradient(loss, keras_model.trainable_weights)))
    layer = model.layers[0]
    ours = {"token_embedding/embeddings": model.tokens.weight.grad, "mlm_bias/embeddings": model.mlm_bias.grad[None],
            "position_embedding/embeddings": model.positions.weight.grad, "layer_0_up/kernel": layer.up.weight.grad.T,
            "layer_0_attention/query/kernel": layer.q.weight.grad.T.reshape(32, 2, 16),
            "layer_0_attention/attention_output/kernel": layer.o.weight.grad.T.reshape(2, 16, 32),
            "pooler/bias": model.pooler.bias.grad, "mlm_ln/gamma": model.mlm_ln.weight.grad}
    for path, grad in ours.items():
        assert grads[path] is not None, path
        theirs = np.asarray(tf.convert_to_tensor(grads[path]))
        assert np.abs(grad.numpy() - theirs).max() <= TOL[torch.float64] * max(1.0, np.abs(theirs).max()), path
    assert np.abs(model.tokens.weight.grad.numpy()).max() > 1e-3


def test_conversions_leave_every_random_generator_alone():
    model = _bert(3)
    py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
    from_keras(to_keras(model))
    assert random.getstate() == py and torch.equal(torch.get_rng_state(), th)
    after = np.random.get_state()
    assert after[0] == npy[0] and np.array_equal(after[1], npy[1]) and after[2:] == npy[2:]


def test_keras_inputs_defaults_and_boolean_mask():
    keras_model = to_keras(_bert(4, layers=1))
    ids = torch.tensor([[7, 8, 9, 10], [11, 12, 13, 14]])
    x = keras_inputs(keras_model, ids)
    assert set(x) == {"ids", "segments", "attention_mask"} and all(a.dtype == np.int32 for a in x.values())
    assert np.array_equal(x["ids"], ids.numpy()) and not x["segments"].any() and x["attention_mask"].all()
    m = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert np.array_equal(keras_inputs(keras_model, ids, None, m.astype(bool))["attention_mask"], m)


@pytest.mark.parametrize("args, error, match", [
    ((np.full((2, 4), 7.0),), TypeError, "ids must be an integer array"),
    ((np.full((2, 4), True),), TypeError, "ids must be an integer array"),
    ((None,), TypeError, "ids must be an integer array"),
    ((np.full(4, 7),), ValueError, r"ids must be \(batch, length\)"),
    ((np.zeros((0, 4), np.int64),), ValueError, r"ids must be \(batch, length\)"),
    ((np.full((1, 17), 7),), ValueError, r"sequences of length 17 exceed the position table \(16\)"),
    ((np.full((2, 4), 120),), ValueError, r"ids must hold values in \[0, 120\)"),
    ((np.full((2, 4), -1),), ValueError, r"ids must hold values in \[0, 120\)"),
    ((np.full((2, 4), 7), np.zeros((2, 3), np.int64)), ValueError, "segments must have the shape of ids"),
    ((np.full((2, 4), 7), np.full((2, 4), 2)), ValueError, r"segments must hold values in \[0, 2\)"),
    ((np.full((2, 4), 7), None, np.ones((2, 4))), TypeError, "attention_mask must be an integer or boolean"),
    ((np.full((2, 4), 7), None, np.full((2, 4), 2)), ValueError, r"attention_mask must hold values in \[0, 2\)"),
    ((np.full((2, 4), 7), None, np.array([[1, 1, 0, 0], [0, 0, 0, 0]])), ValueError, "at least one token"),
])
def test_keras_inputs_bad_input(args, error, match):
    keras_model = to_keras(_bert(5, layers=1))
    with pytest.raises(error, match=match):
        keras_inputs(keras_model, *args)


def test_conversions_bad_input():
    import keras

    model = _bert(6, layers=1)
    with pytest.raises(TypeError, match="model must be a troikadl Bert"):
        to_keras(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="model's parameters must all be float32 or all float64"):
        to_keras(model.to(torch.bfloat16))
    with pytest.raises(TypeError, match="keras_model must be a keras.Model built by to_keras"):
        from_keras(model)
    with pytest.raises(TypeError, match="keras_model must be a keras.Model built by to_keras"):
        keras_inputs(model, np.zeros((1, 2), np.int64))
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="a Keras BERT built by to_keras: it has no layer 'token_embedding'"):
        from_keras(other)
