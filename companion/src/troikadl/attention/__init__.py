"""Attention from scratch in NumPy: scaled dot-product, multi-head, positions, an encoder block.

Taught in chapter 6. Shapes: a sequence is (batch, length, d_model); per-head tensors are
(batch, heads, length, d_head). Masks are boolean and follow PyTorch's ``F.scaled_dot_product_attention``
and Keras: ``True`` means "may attend", and a mask broadcasts to the (batch, heads, L_q, L_k) scores.
PyTorch's ``nn.MultiheadAttention`` and ``nn.Transformer*`` modules use the opposite convention for their
boolean ``attn_mask``/``src_mask`` and ``*_key_padding_mask``: there ``True`` means "masked out".

``MHAWeights.from_torch`` and ``EncoderWeights.from_torch`` copy what these functions model and reject the
rest with a ``ValueError`` or ``TypeError`` naming the option. Dropout is a training-time operation: the
functions here compute the modules' evaluation-mode (``.eval()``) output, whatever their ``dropout``.
"""

from .core import causal_mask, padding_mask, scaled_dot_product_attention, sinusoidal_positions, softmax
from .encoder import EncoderWeights, encoder_block, layer_norm
from .multihead import MHAWeights, multi_head_attention

__all__ = ["softmax", "scaled_dot_product_attention", "causal_mask", "padding_mask", "MHAWeights",
           "multi_head_attention", "sinusoidal_positions", "layer_norm", "EncoderWeights", "encoder_block"]

# One public name for each object, troikadl.attention.X, whichever file of the subpackage defines it: reprs,
# pickles and tests/test_bad_input.py's catalogue see the path users import. (inspect.getsource still works
# for the functions; for the two classes it looks in this file and fails, as for NumPy's re-exported classes.)
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
