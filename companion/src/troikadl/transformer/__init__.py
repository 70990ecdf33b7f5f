"""Transformers in PyTorch (chapter 6): a token encoder, a GPT-style decoder and its map to Hugging Face's GPT-2.

Split by concept: :mod:`.encoder` (the trainable ``TokenEncoder``), :mod:`.gpt` (the decoder, with a KV cache),
:mod:`.hf` (weights to and from ``transformers.GPT2LMHeadModel``), :mod:`.generation` (decoding strategies, the
KV cache's memory), :mod:`.rope` (rotary position embeddings), :mod:`.seq2seq` (the encoder-decoder with
cross-attention). Each name is defined in one module and re-exported here: ``from troikadl.transformer import
TokenEncoder`` works as before the split.
"""

from .encoder import TokenEncoder
from .gpt import GPT, GPTConfig
from .hf import from_hf_gpt2, gpt2_weight_map, to_hf_gpt2
from .generation import generate, kv_cache_bytes, top_k_filter, top_p_filter
from .rope import apply_rope, rope_angles
from .seq2seq import Seq2SeqTransformer, causal_mask, seq2seq_accuracy

__all__ = ["TokenEncoder", "GPTConfig", "GPT", "to_hf_gpt2", "from_hf_gpt2", "gpt2_weight_map",
           "top_k_filter", "top_p_filter", "generate", "kv_cache_bytes", "rope_angles", "apply_rope",
           "Seq2SeqTransformer", "causal_mask", "seq2seq_accuracy"]
