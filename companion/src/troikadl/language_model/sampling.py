"""Generation: sampling the next id with a temperature, and text from a recurrent model (chapter 5; chapter 6).

See :mod:`troikadl.language_model`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..validate import check_float, check_instance, check_int, check_str
from .text import CharVocab

__all__ = ["sample_next", "sample"]


def sample_next(logits: Any, temperature: float = 1.0, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one id per row of ``logits`` (…, vocab_size) from ``softmax(logits / temperature)`` (chapter 5).

    Lower temperatures sharpen the distribution (``temperature=0`` is greedy: the argmax), higher ones flatten
    it towards uniform; 1 samples the model's own distribution. Chapter 6's decoders use it too: there a logit
    of ``-inf`` marks a token left out by top-k or top-p filtering (probability 0); each row needs a finite one.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.ndim < 1:
        raise TypeError(f"logits must be a floating-point torch tensor (..., vocab_size), got {type(logits).__name__}")
    if (logits.shape[-1] == 0 or bool(torch.isnan(logits).any()) or bool((logits == math.inf).any())
            or bool((logits == -math.inf).all(-1).any())):
        raise ValueError("logits must not hold NaN or +inf, and each row needs a finite entry (-inf marks a token "
                         "left out)")
    temperature = check_float(temperature, "temperature", min=0.0)
    if generator is not None:
        check_instance(generator, "generator", torch.Generator)
    if temperature == 0.0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1]).to("cpu" if generator is None else generator.device)
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1]).to(logits.device)


@torch.no_grad()
def sample(model: nn.Module, vocab: CharVocab, prompt: str, length: int, *, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> str:
    """``prompt`` followed by ``length`` characters generated one at a time (chapter 5).

    The model reads the prompt, then each sampled character is fed back as the next input with the state
    carried: generation feeds the model its own output, unlike training's teacher forcing. The unknown id is
    never sampled.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module called as model(ids, state)")
    check_instance(vocab, "vocab", CharVocab, "a CharVocab")
    if getattr(model, "vocab_size", len(vocab)) != len(vocab):
        raise ValueError(f"vocab has {len(vocab)} ids but the model predicts {model.vocab_size}: use the vocabulary "
                         f"the model was trained with")
    check_str(prompt, "prompt", nonempty=True)
    check_int(length, "length", min=0)
    check_float(temperature, "temperature", min=0.0)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits, state = model(vocab.encode(prompt)[None].to(device))
    out = []
    for _ in range(length):
        nxt = sample_next(logits[0, -1, 1:], temperature, generator=generator) + 1  # id 0 (unknown) left out
        out.append(int(nxt))
        logits, state = model(nxt.reshape(1, 1), state)
    model.train(was_training)
    return prompt + vocab.decode(out)
