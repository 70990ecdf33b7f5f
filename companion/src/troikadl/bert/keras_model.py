"""The chapter's BERT in Keras 3, built from stock layers, and the copies between it and :class:`Bert`.

Taught in chapter 7. :func:`to_keras` builds a Keras functional model with the same architecture as
:class:`~troikadl.bert.model.Bert` (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", arXiv:1810.04805) and fills it with a torch model's weights;
:func:`from_keras` goes back. Every piece is a stock ``keras.layers`` layer:

- embeddings: ``ReversibleEmbedding`` for the tokens (called again with ``reverse=True`` it is the MLM
  decoder ``h E^T``: the matrix is *tied*, stored once), ``Embedding`` for positions and segments, then
  ``LayerNormalization(epsilon=1e-12)``;
- each encoder layer is post-norm, as in BERT: ``x = LN(x + MultiHeadAttention(x, x))`` and
  ``x = LN(x + Dense(Dense(x, "gelu")))``. Keras's ``"gelu"`` activation is the exact (erf) GELU, as
  PyTorch's ``F.gelu``; beware that ``keras.ops.gelu`` defaults to the tanh approximation;
- heads: MLM = ``LN(Dense(h, "gelu")) E^T + b``, NSP = ``Dense(Dense(h[:, 0], "tanh"))`` (the pooler).
  Keras has no bias-only layer: ``b`` is a one-row ``Embedding`` looked up at index 0.

Inputs are a dict of int32 arrays ``{"ids", "segments", "attention_mask"}`` (all three required; build it
with :func:`keras_inputs`, which also checks it); outputs are ``[mlm_logits, nsp_logits]``. Positions are
computed inside the graph (``cumsum(1) - 1``) so that any length up to ``max_length`` works.
TensorFlow and Keras are imported only when a function here is called (8-14 s the first time).

Precision: in float32 the twin agrees with ``Bert`` to float32 rounding. In float64 only to ~1e-8
relative: TensorFlow casts two Python-float constants through float32 even in float64 layers (Keras 3.15's
``MultiHeadAttention`` scale 1/sqrt(d_head) and the 1/sqrt(2) of ``tf.nn.gelu(approximate=False)``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from ..validate import check_instance
from .model import Bert, BertSettings

__all__ = ["to_keras", "from_keras", "keras_inputs"]

_DTYPES = {"float32": "float32", "float64": "float64"}
_INPUTS = ("ids", "segments", "attention_mask")


def _import_keras() -> Any:
    """``keras`` (Keras 3), importing TensorFlow quietly and without oneDNN's reordered sums the first time."""
    if "tensorflow" not in sys.modules:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    import keras

    return keras


def _build(s: BertSettings, dtype: str) -> Any:
    """The Keras model for settings ``s``, every weight zero or one (no random generator is used)."""
    keras = _import_keras()
    from keras import layers, ops

    def dense(units: int, name: str, activation: str | None = None) -> Any:
        return layers.Dense(units, activation=activation, kernel_initializer="zeros", dtype=dtype, name=name)

    def norm(name: str) -> Any:
        return layers.LayerNormalization(epsilon=s.eps, dtype=dtype, name=name)

    def table(rows: int, width: int, name: str) -> Any:
        return layers.Embedding(rows, width, embeddings_initializer="zeros", dtype=dtype, name=name)

    ids, segments, attention_mask = (keras.Input((None,), dtype="int32", name=n) for n in _INPUTS)
    tokens = layers.ReversibleEmbedding(s.vocab_size, s.hidden, tie_weights=True, embeddings_initializer="zeros",
                                        dtype=dtype, name="token_embedding")
    positions = ops.cumsum(ops.ones_like(ids), axis=1) - 1  # 0, 1, ..., length - 1 in every row
    x = tokens(ids) + table(s.max_length, s.hidden, "position_embedding")(positions)
    x = norm("embeddings_ln")(x + table(s.segments, s.hidden, "segment_embedding")(segments))
    keep = ops.cast(attention_mask, "bool")  # (B, L_k): which keys are real tokens
    mask = ops.logical_and(ops.expand_dims(keep, 1), ops.expand_dims(ops.ones_like(keep), 2))  # (B, L_q, L_k)
    for i in range(s.layers):
        p = f"layer_{i}_"
        attention = layers.MultiHeadAttention(s.heads, s.hidden // s.heads, kernel_initializer="zeros",
                                              dtype=dtype, name=p + "attention")
        x = norm(p + "attention_ln")(x + attention(x, x, attention_mask=mask))
        x = norm(p + "mlp_ln")(x + dense(s.hidden, p + "down")(dense(s.intermediate, p + "up", "gelu")(x)))
    h = norm("mlm_ln")(dense(s.hidden, "mlm_dense", "gelu")(x))
    bias = table(1, s.vocab_size, "mlm_bias")(ops.zeros_like(ids[:, :1]))  # (B, 1, V), broadcast over positions
    mlm = tokens(h, reverse=True) + bias
    nsp = dense(2, "nsp")(dense(s.hidden, "pooler", "tanh")(x[:, 0]))
    return keras.Model(dict(zip(_INPUTS, (ids, segments, attention_mask))), [mlm, nsp], name="bert")


def _pairs(model: Bert) -> list[tuple[str, Any]]:
    """(Keras layer name, torch module or parameter) for every weight of ``model``: the one map both ways."""
    pairs: list[tuple[str, Any]] = [("token_embedding", model.tokens), ("position_embedding", model.positions),
                                    ("segment_embedding", model.segments), ("embeddings_ln", model.ln)]
    for i, layer in enumerate(model.layers):
        p = f"layer_{i}_"
        pairs += [(p + "attention", layer), (p + "attention_ln", layer.ln1), (p + "up", layer.up),
                  (p + "down", layer.down), (p + "mlp_ln", layer.ln2)]
    return pairs + [("pooler", model.pooler), ("nsp", model.nsp), ("mlm_dense", model.mlm_dense),
                    ("mlm_ln", model.mlm_ln), ("mlm_bias", model.mlm_bias)]


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy()


def to_keras(model: Bert) -> Any:
    """A new Keras BERT (``keras.Model``, see the module docstring) holding ``model``'s weights.

    Its dtype is the model's (float32 or float64; ``ValueError`` otherwise); it computes what ``model``
    computes (dropout-free, like ``Bert``). No random generator is touched. For a Keras BERT to train from
    scratch, convert a new ``Bert``: it then starts from BERT's N(0, 0.02) initialization.
    """
    import torch

    from ..attention.multihead import MHAWeights
    from ..twins import copy_linear_to_keras

    check_instance(model, "model", Bert, "a troikadl Bert")
    dtypes = {p.dtype for p in model.parameters()}
    names = {torch.float32: "float32", torch.float64: "float64"}
    if len(dtypes) != 1 or next(iter(dtypes)) not in names:
        raise ValueError(f"model's parameters must all be float32 or all float64, got {sorted(map(str, dtypes))}")
    s = model.settings
    keras_model = _build(s, names[next(iter(dtypes))])
    for name, src in _pairs(model):
        layer = keras_model.get_layer(name)
        if isinstance(src, torch.nn.Linear):
            copy_linear_to_keras(src, layer)
        elif isinstance(src, torch.nn.LayerNorm):
            layer.set_weights([_np(src.weight), _np(src.bias)])
        elif isinstance(src, torch.nn.Embedding):
            layer.set_weights([_np(src.weight)])
        elif isinstance(src, torch.nn.Parameter):  # the MLM output bias
            layer.set_weights([_np(src)[None]])
        else:  # an encoder layer: its attention's four projections
            MHAWeights(*(_np(getattr(src, c).weight) for c in "qkvo"), *(_np(getattr(src, c).bias) for c in "qkvo"),
                       heads=s.heads).copy_to_keras(layer)
    return keras_model


def _keras_bert(keras_model: Any, name: str = "keras_model") -> tuple[BertSettings, str]:
    """The settings and dtype of a Keras BERT built by :func:`to_keras`, read from its layers."""
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(keras_model, keras.Model):
        raise TypeError(f"{name} must be a keras.Model built by to_keras, got {type(keras_model).__name__}")
    present = {layer.name for layer in keras_model.layers}
    n = 0
    while f"layer_{n}_attention" in present:
        n += 1
    required = ["token_embedding", "position_embedding", "segment_embedding", "embeddings_ln", "pooler", "nsp",
                "mlm_dense", "mlm_ln", "mlm_bias"] + [f"layer_{i}_{part}" for i in range(max(n, 1))
                               for part in ("attention", "attention_ln", "up", "down", "mlp_ln")]
    missing = [r for r in required if r not in present]
    inputs = sorted(getattr(t, "name", "?") for t in keras_model.inputs)
    if missing or inputs != sorted(_INPUTS):
        what = f"it has no layer {missing[0]!r}" if missing else f"its inputs are {inputs}"
        raise ValueError(f"{name} must be a Keras BERT built by to_keras: {what}")
    tokens = keras_model.get_layer("token_embedding")
    attention = keras_model.get_layer("layer_0_attention").get_config()
    s = BertSettings(vocab_size=tokens.input_dim, hidden=tokens.output_dim, layers=n, heads=attention["num_heads"],
                     intermediate=keras_model.get_layer("layer_0_up").units,
                     max_length=keras_model.get_layer("position_embedding").input_dim,
                     segments=keras_model.get_layer("segment_embedding").input_dim,
                     eps=keras_model.get_layer("embeddings_ln").epsilon)
    dtype = keras.backend.standardize_dtype(tokens.embeddings.dtype)
    if dtype not in _DTYPES:
        raise ValueError(f"{name} must hold float32 or float64 weights, got {dtype}")
    return s, dtype


def from_keras(keras_model: Any) -> Bert:
    """A new torch :class:`Bert` holding the weights of a Keras BERT built by :func:`to_keras` (perhaps trained
    since), in its dtype. The settings are read from the layers (``init_std`` is not stored: default 0.02).
    torch's global random stream is left as it was (the new model's own initialization is overwritten)."""
    import torch

    from ..twins import copy_dense_to_torch

    s, dtype = _keras_bert(keras_model)
    with torch.random.fork_rng():
        model = Bert(s).eval().to(getattr(torch, dtype))
    E = s.hidden
    with torch.no_grad():
        for name, dst in _pairs(model):
            layer = keras_model.get_layer(name)
            if isinstance(dst, torch.nn.Linear):
                copy_dense_to_torch(layer, dst)
                continue
            w = [torch.as_tensor(np.asarray(a)) for a in layer.get_weights()]
            if isinstance(dst, torch.nn.LayerNorm):
                dst.weight.copy_(w[0])
                dst.bias.copy_(w[1])
            elif isinstance(dst, torch.nn.Embedding):
                dst.weight.copy_(w[0])
            elif isinstance(dst, torch.nn.Parameter):
                dst.copy_(w[0][0])
            else:  # Keras: kernels (E, heads, d) for q, k, v and (heads, d, E) for the output; biases per head
                for j, c in enumerate("qkvo"):
                    getattr(dst, c).weight.copy_(w[2 * j].reshape(E, E).T)
                    getattr(dst, c).bias.copy_(w[2 * j + 1].reshape(E))
    return model


def _int_array(x: Any, name: str, *, boolean: bool = False) -> np.ndarray:
    """``x`` (array-like, torch or TensorFlow tensor) as an integer NumPy array; floats are refused."""
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an integer array, got {type(x).__name__}")
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.dtype.kind not in ("iub" if boolean else "iu"):
        kind = "an integer or boolean" if boolean else "an integer"
        raise TypeError(f"{name} must be {kind} array, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def keras_inputs(keras_model: Any, ids: Any, segments: Any = None, attention_mask: Any = None
                 ) -> dict[str, np.ndarray]:
    """The input dict of a Keras BERT built by :func:`to_keras`, checked as :class:`Bert` checks its inputs.

    ``ids`` (batch, length) are token ids in ``[0, vocab_size)``, ``length <= max_length``; ``segments``
    (default zeros) in ``[0, segments)``; ``attention_mask`` (default ones) holds 1 (or True) for real tokens,
    0 for padding, at least one token a row. NumPy arrays, lists and torch tensors are accepted; the result
    holds int32 arrays. ``TypeError`` for a wrong kind or dtype, ``ValueError`` for a wrong shape or value.
    """
    s, _ = _keras_bert(keras_model)
    ids = _int_array(ids, "ids")
    if ids.ndim != 2 or ids.size == 0:
        raise ValueError(f"ids must be (batch, length) with batch and length >= 1, got shape {ids.shape}")
    if ids.shape[1] > s.max_length:
        raise ValueError(f"sequences of length {ids.shape[1]} exceed the position table ({s.max_length})")
    segments = np.zeros_like(ids) if segments is None else _int_array(segments, "segments")
    attention_mask = np.ones_like(ids) if attention_mask is None else _int_array(attention_mask, "attention_mask",
                                                                                 boolean=True)
    limits = {"ids": s.vocab_size, "segments": s.segments, "attention_mask": 2}
    arrays = {"ids": ids, "segments": segments, "attention_mask": attention_mask}
    for name, arr in arrays.items():
        if arr.shape != ids.shape:
            raise ValueError(f"{name} must have the shape of ids {ids.shape}, got {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= limits[name]):
            raise ValueError(f"{name} must hold values in [0, {limits[name]}), got {arr.min()}..{arr.max()}")
    if not (attention_mask.sum(1) > 0).all():
        raise ValueError("attention_mask must keep at least one token in every sequence")
    return {name: arr.astype(np.int32) for name, arr in arrays.items()}
