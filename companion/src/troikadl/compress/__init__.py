"""Model compression (chapters 9 and 10): pruning, low-rank factorization, distillation, quantization, measuring.

Chapter 9: ``prune`` (masks: magnitude, random, structured units), ``lottery`` (iterative magnitude pruning,
rewinding, the lottery-ticket experiment and its shipped table), ``channels`` (removing whole convolution
channels), ``nm`` (N:M semi-structured sparsity), ``lowrank`` (truncated SVD of dense layers) and ``distill``
(response and feature distillation).
Chapter 10: ``quantize`` (affine quantization from scratch, fake quantization), ``calibrate`` (choosing
activation ranges), ``observers`` (what PyTorch's static int8 chose), ``groupwise`` (low-bit weights with one
scale per group), ``llm_int8`` (vector-wise int8 and the LLM.int8() outlier decomposition), ``precision`` (float16, bfloat16, loss scaling), ``qat``
(quantization-aware training with activation fake quantization) and ``deploy`` (PyTorch int8, ONNX Runtime,
TensorFlow Lite). ``measure`` (bytes on disk, sparse formats, latency with its spread) serves both.
`distill` defines PyTorch modules and imports torch at its top; TensorFlow and ONNX are imported inside
the functions that use them. ``lottery`` is also a command (``python -m troikadl.compress.lottery`` rebuilds
its table), so it is imported on first use, which lets ``python -m`` run it cleanly.
"""

from __future__ import annotations

from .._lazy import lazy_submodules
from . import (calibrate, channels, deploy, distill, groupwise, llm_int8, lowrank, measure, nm, observers, precision,
               prune, qat, quantize)

__getattr__, __dir__ = lazy_submodules(__name__, ("lottery",))

__all__ = ["calibrate", "channels", "deploy", "distill", "groupwise", "llm_int8", "lottery", "lowrank", "measure",
           "nm", "observers", "precision", "prune", "qat", "quantize"]
