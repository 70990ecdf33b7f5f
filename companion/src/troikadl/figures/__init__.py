"""Schematic diagrams of the course, drawn by code (matplotlib), so they stay true to the code they depict.

Each function draws one diagram and returns its :class:`matplotlib.figure.Figure`; a chapter shows it with
``plt.show()``, as it shows a plot. Where the structure exists as data, the diagram draws the data: the
computational graph is read from the engine's own graph, the convolution grid's size is
:func:`troikadl.conv.conv_output_size`'s, the quantization grid's ends are
:func:`troikadl.compress.quantize.int_range`'s.

One visual style for every diagram (``style``):

- **Size.** One drawing unit is one inch, and no diagram is wider than ``MAX_WIDTH`` (7 in): at the
  course's 100 dpi that is 700 pixels, inside the book's text column, so lettering appears at its
  nominal size in the book, in Colab and in JupyterLab, and is never scaled down.
- **Lettering.** DejaVu Sans (matplotlib's own font, present everywhere), 10 pt for labels, 8.5 pt for
  notes; formulas in matplotlib's mathtext.
- **Colours by role**, the same in every chapter (``COLORS``): *data* (inputs, activations, tokens) blue,
  *param* (learned weights) green, *op* (an operation) sand, *out* (outputs and losses) rose,
  *focus* (what the figure points at) gold, *muted* (what is dropped, masked or not used) grey.
  The palette stays distinguishable in greyscale and for the common colour-vision deficiencies: every
  colour is paired with a label or a line style, never the only cue.
- **Arrows.** Forward computation and data flow: solid dark arrows. Backward (gradients): dashed red
  arrows. Skip connections and side paths: dotted arrows.

Modules, by topic: ``style`` (the canvas, boxes, arrows and grids the others draw with), ``graph``
(computational graphs and the course map), ``networks`` (neurons, perceptron, recurrent cells),
``recurrent`` (the GRU cell, stacked bidirectional networks), ``convolution`` (kernels, pooling, shape
traces), ``blocks`` (the building blocks of modern CNNs: the residual
block, depthwise-separable convolutions), ``attention`` (attention, transformer blocks, BERT's
inputs and masking), ``decoder`` (the decoder block, the key-value cache, the encoder-decoder Transformer),
``tokenizers`` (BPE and WordPiece merges), ``search`` (architecture search), ``supernet`` (one-shot weight
sharing), ``compression`` (pruning, low rank, quantization), ``sparsity`` (iterative pruning, channel pruning,
N:M patterns), ``lowbit`` (group-wise int4, LLM.int8()), ``formats`` (floating-point bit layouts), ``fusion``
(multimodal fusion), ``vision`` (the vision transformer's patch embedding), ``multimodal`` (image
tokens for a language model) and ``scale`` (sharded data parallelism, the FLOPs of training). The commonly used
diagrams are re-exported here.
"""

from __future__ import annotations

from .._lazy import lazy_submodules

__all__ = ["style", "graph", "networks", "recurrent", "layers", "convolution", "blocks", "attention", "decoder", "bert",
           "tokenizers", "search", "supernet", "compression", "sparsity", "lowbit", "formats", "fusion", "vision",
           "multimodal", "scale"]
_SUBMODULES = tuple(__all__)

__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES)
