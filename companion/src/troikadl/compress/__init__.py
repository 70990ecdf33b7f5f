"""Model compression (chapters 9 and 10): pruning, low-rank factorization, distillation, and measuring size.

``prune`` (masks: magnitude, random, structured), ``lowrank`` (truncated SVD of dense layers),
``distill`` (the temperature-softened loss), ``measure`` (bytes on disk, sparse formats, latency with
its spread), ``quantize`` (affine quantization from scratch, fake quantization) and ``deploy`` (PyTorch
int8, ONNX Runtime, TensorFlow Lite).
`distill` defines PyTorch modules and imports torch at its top; TensorFlow and ONNX are imported inside
the functions that use them.
"""

from __future__ import annotations

from . import deploy, distill, lowrank, measure, prune, quantize

__all__ = ["deploy", "distill", "lowrank", "measure", "prune", "quantize"]
