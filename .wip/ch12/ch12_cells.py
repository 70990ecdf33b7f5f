"""The cells of chapter 12 (scaffolding for issue #29): (kind, source[, metadata])."""

from ch12_sections import SECTIONS

FIG = lambda name, caption, alt, hide=False: {  # noqa: E731
    "mystnb": {"figure": {"caption": caption, "name": name}, "image": {"alt": alt}},
    **({"tags": ["hide-input"]} if hide else {})}

CELLS = [
("markdown", r"""
# 12. Scale: what makes a model large, measured

Every one of the five source articles is about *large* models, and each says what makes them work: more
parameters, more data, more compute. None measures it. This chapter does, at a scale a laptop can run, in
four steps. It **counts**: the parameters of real architectures, built from their published configurations
without downloading a weight, and the arithmetic a training run costs (the $6ND$ rule, derived from the forward
and backward passes and checked against PyTorch's own count). It **weighs**: what training needs in memory per
parameter, and why a model that fits on a GPU for inference does not fit there for training. It **measures a
scaling law**: a family of chapter 6's decoders, spanning more than a decade and a half of size, trained on the
docstring corpus at several data budgets; the loss is fitted as a function of parameters and data, and the fit
says how a fixed compute budget is best split between the two. And it **shards**: the same decoder trained by two
processes with PyTorch's fully sharded data parallelism, each holding half of the training state, the loss equal
to the one-process run.

**You will learn**
- to count a Transformer's parameters from its configuration, and why published sizes are rounded or wrong;
- where $C \approx 6ND$ comes from, and what it leaves out;
- what training costs in memory per parameter (weights, gradients, Adam's moments; float32 and mixed precision),
  and what activations add;
- how a scaling law is measured and fitted, with uncertainty; the compute-optimal frontier and the
  tokens-per-parameter ratio it implies; where a small model departs from the published laws;
- how data parallelism works across processes, and how ZeRO and FSDP shard the training state.

**Source articles.** Article 002 §1, §2.1 and §8.1 (the size of a "large" model), articles 000 and 004 (more
parameters and more data make better models), article 003 (how long training takes).

**References.** {cite:author}`article000`, {cite:author}`article002`, {cite:author}`article003`,
{cite:author}`article004` (see the {doc}`errata <../book/errata>`); primary sources
{cite:p}`kaplan2020scaling,hoffmann2022training,rajbhandari2020zero,zhao2023pytorch,devlin2019bert,radford2019language,touvron2023llama2,brown2020language,micikevicius2018mixed,besiroglu2024chinchilla`.
**Glossary:** {term}`scaling law`, {term}`compute-optimal`, {term}`FLOP`, {term}`mixed precision`,
{term}`data parallelism`, {term}`sharding`, {term}`large model`.
"""),
("code", r"""
import numpy as np
import matplotlib.pyplot as plt
import torch

import torch.nn.functional as F

from troikadl import scaling as S
from troikadl.transformer import GPT, GPTConfig

rt = tk.setup(seed=0)
rt
"""),
] + SECTIONS
