"""The dtype rule of CONTRIBUTING.md ("Arrays, dtypes and devices") on every from-scratch NumPy entry point.

From-scratch code exists to be checked against the frameworks, so it computes in float64 whatever it is
given and returns NumPy float64: float32 arrays and float32 torch tensors in, float64 out. (``rnn`` is
checked in tests/test_rnn.py; the autograd engine keeps its Tensors' dtype, like torch.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from troikadl import attention as A
from troikadl import conv, neuron

_R = np.random.default_rng(0)
_X4 = _R.normal(size=(2, 3, 5, 5))  # (batch, channels, H, W)
_W4 = _R.normal(size=(4, 3, 3, 3))
_SEQ = _R.normal(size=(2, 3, 8))  # (batch, length, d_model)
_MHA = A.MHAWeights.from_torch(torch.nn.MultiheadAttention(8, 2, batch_first=True))
_ENC = A.EncoderWeights.from_torch(torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True))
_XF, _YF = _R.normal(size=(6, 3)), np.array([0, 1, 0, 1, 1, 0])

# name -> (function of the float inputs, the inputs); every array returned must be float64
ENTRY_POINTS = {
    "conv.conv2d": (lambda x, w, b: conv.conv2d(x, w, b, padding=1), (_X4, _W4, _R.normal(size=4))),
    "conv.conv2d_loops": (lambda x, w: conv.conv2d_loops(x, w, stride=2), (_X4, _W4)),
    "conv.max_pool2d": (lambda x: conv.max_pool2d(x, 2), (_X4,)),
    "conv.avg_pool2d": (lambda x: conv.avg_pool2d(x, 2, padding=1), (_X4,)),
    "attention.softmax": (A.softmax, (_SEQ,)),
    "attention.scaled_dot_product_attention": (A.scaled_dot_product_attention, (_SEQ, _SEQ, _SEQ)),
    "attention.multi_head_attention": (lambda x: A.multi_head_attention(x, x, _MHA, 2), (_SEQ,)),
    "attention.layer_norm": (A.layer_norm, (_SEQ, np.ones(8), np.zeros(8))),
    "attention.encoder_block": (lambda x: A.encoder_block(x, _ENC, 2), (_SEQ,)),
    "attention.MHAWeights": (lambda *w: A.MHAWeights(*w, heads=2).Wq, (np.eye(8),) * 4 + (np.zeros(8),) * 4),
    **{f"neuron.{f}": (getattr(neuron, f), (_SEQ,)) for f in
       ("sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad")},
    "neuron.neuron": (lambda x, w: neuron.neuron(x, w, 0.5), (_XF, np.ones(3))),
    "neuron.perceptron_update": (lambda w, x: neuron.perceptron_update(w, 0.0, x, -1)[0], (np.ones(3), _XF[0])),
    "neuron.Perceptron": (lambda X: neuron.Perceptron(epochs=2).fit(X, _YF).decision_function(X), (_XF,)),
    "neuron.LogisticNeuron": (lambda X: neuron.LogisticNeuron(epochs=3).fit(X, _YF).predict_proba(X), (_XF,)),
}


def _arrays(out):
    return [a for a in (out if isinstance(out, tuple) else (out,)) if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_float32_in_float64_out(name, kind):
    fn, inputs = ENTRY_POINTS[name]
    single = [a.astype(np.float32) for a in inputs]
    if kind == "torch":
        single = [torch.from_numpy(a) for a in single]
    out = _arrays(fn(*single))
    assert out and all(type(a) is np.ndarray and a.dtype == np.float64 for a in out), \
        [(type(a).__name__, a.dtype) for a in out]
    # and the values are those of the float64 computation on the same (float32-rounded) inputs
    ref = _arrays(fn(*(a.astype(np.float32).astype(np.float64) for a in inputs)))
    assert all(np.array_equal(a, b) for a, b in zip(out, ref))
