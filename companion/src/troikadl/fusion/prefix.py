"""Image tokens for a language model: a mini-VQA model in the style of LLaVA (Liu et al., 2023).

Taught in chapter 11. An image encoder turns the 64 pixels into a feature vector, a linear *projector* maps
it to ``n_prefix`` vectors of the language model's width, and a GPT-style decoder
(:class:`troikadl.transformer.gpt.GPT`) reads them before the question's word embeddings, as if they were
``n_prefix`` more words: ``[image tokens; question tokens]``. Fusion happens inside the decoder's causal
self-attention over that one sequence. The answer is the decoder's next-word prediction after the question's
last word, restricted to the two words "yes" and "no", which the decoder's vocabulary adds to the question
vocabulary (ids ``vocab_size`` and ``vocab_size + 1``). The model returns ``logit("yes") - logit("no")``: its
sigmoid is the softmax probability of "yes" among the two words, so ``loss="bce"`` on it is the cross-entropy of
the next word over {yes, no}, and the model is trained and scored as the other fusion models are.

Questions are right-padded with id 0. The decoder is causal, so padding after the question's last word cannot
change what the model computes at that word; the answer is read there (at the last image token for a question
that is all padding).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..transformer.gpt import GPT, GPTConfig
from ..validate import check_choice, check_instance, check_int
from .models import IMAGE_DIM, QUESTION_LENGTH, _check_inputs

__all__ = ["ANSWER_WORDS", "PrefixVQA"]

#: The words the decoder's vocabulary adds after the question vocabulary, in this order.
ANSWER_WORDS = ("yes", "no")


class PrefixVQA(nn.Module):
    """``model(image (B, 64), tokens (B, 6)) -> (B, 1)`` logit of "yes" minus logit of "no", read by a GPT.

    ``vocab_size`` is the question vocabulary's size (``len(vqa.VOCAB)``); the decoder's vocabulary is that plus
    :data:`ANSWER_WORDS`. ``encoder=None`` builds a trained image encoder, ``Linear(64, hidden)`` and ReLU (the
    image branch of :class:`~troikadl.fusion.models.ConcatFusion`); a module given as ``encoder`` (mapping
    (B, 64) pixels to (B, features)) is frozen instead, as LLaVA freezes its vision encoder: its parameters get no
    gradient and it stays in evaluation mode. The projector, ``Linear(features, n_prefix * d_model)``, and the
    decoder (``d_model``, ``heads``, ``layers``, context ``n_prefix + 6``) are trained.

    ``init="width"`` re-draws the decoder's weight matrices from N(0, 1 / fan_in) (the embeddings, whose fan-in is
    one row, from N(0, 1 / d_model)), the residual projections further divided by sqrt(2 layers) as in GPT-2;
    ``init="gpt2"`` keeps :class:`~troikadl.transformer.gpt.GPT`'s N(0, 0.02), a scale that does not shrink with
    the width and is small for a narrow model.
    """

    def __init__(self, *, vocab_size: int, n_prefix: int = 4, d_model: int = 32, heads: int = 2, layers: int = 1,
                 hidden: int = 128, encoder: nn.Module | None = None, init: str = "width"):
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size", min=2)
        self.n_prefix = check_int(n_prefix, "n_prefix", min=1)
        d_model, heads = check_int(d_model, "d_model", min=1), check_int(heads, "heads", min=1)
        if d_model % heads:
            raise ValueError(f"d_model must be divisible by heads, got d_model {d_model} and heads {heads}")
        if encoder is None:
            self.encoder = nn.Sequential(nn.Linear(IMAGE_DIM, check_int(hidden, "hidden", min=1)), nn.ReLU())
            self.frozen = False
        else:
            self.encoder = check_instance(encoder, "encoder", nn.Module, "a torch module mapping (B, 64) pixels "
                                                                          "to (B, features)")
            self.encoder.requires_grad_(False).eval()
            self.frozen = True
        features = self._features()
        self.yes, self.no = self.vocab_size, self.vocab_size + 1
        self.lm = GPT(GPTConfig(self.vocab_size + len(ANSWER_WORDS), self.n_prefix + QUESTION_LENGTH,
                                d_model=d_model, heads=heads, layers=layers))
        self.projector = nn.Linear(features, self.n_prefix * d_model)
        if check_choice(init, "init", ("width", "gpt2")) == "width":
            with torch.no_grad():
                for name, p in self.lm.named_parameters():
                    if p.dim() > 1:
                        fan_in = d_model if name.startswith(("tokens", "positions")) else p.shape[1]
                        residual = name.endswith(("proj.weight", "down.weight"))
                        p.normal_(0.0, 1 / math.sqrt(fan_in * (2 * layers if residual else 1)))

    def _features(self) -> int:
        """The encoder's output size, read from one all-zero image."""
        p = next(self.encoder.parameters(), None)
        zeros = torch.zeros(1, IMAGE_DIM, dtype=p.dtype if p is not None else torch.get_default_dtype(),
                            device=p.device if p is not None else None)
        try:
            with torch.no_grad():
                out = self.encoder(zeros)
        except RuntimeError as exc:  # e.g. a first layer that does not take 64 inputs
            raise ValueError(f"encoder must map (B, {IMAGE_DIM}) pixels to (B, features): {exc}") from exc
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] < 1:
            raise ValueError(f"encoder must map (B, {IMAGE_DIM}) pixels to (B, features), got "
                             f"{getattr(out, 'shape', type(out).__name__)}")
        return int(out.shape[1])

    def train(self, mode: bool = True) -> "PrefixVQA":
        """As ``nn.Module.train``, but a frozen encoder stays in evaluation mode."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def image_tokens(self, image: torch.Tensor) -> torch.Tensor:
        """The ``n_prefix`` image tokens (B, n_prefix, d_model): the encoder's features, projected."""
        features = self.encoder(image)
        return self.projector(features).view(len(image), self.n_prefix, self.lm.config.d_model)

    def answer_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per row, the position in ``[image tokens; question]`` whose next-word logits give the answer: the
        question's last non-padding token, or the last image token if the question is all padding."""
        at = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
        last = torch.where(tokens != 0, at, torch.full_like(at, -1)).max(dim=1).values
        return self.n_prefix + last

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens, self.vocab_size)
        if not len(image):
            return image.new_zeros(0, 1)
        logits, _ = self.lm(tokens.long(), prefix=self.image_tokens(image))
        row = logits[torch.arange(len(image), device=logits.device), self.answer_positions(tokens)]
        return (row[:, self.yes] - row[:, self.no]).unsqueeze(1)

    @torch.no_grad()
    def answer_attention(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The attention weights of the answer position over ``[image tokens; question]``:
        (B, layers, heads, n_prefix + 6), each row summing to 1 (zero after the answer position: causal)."""
        _check_inputs(image, tokens, self.vocab_size)
        if not len(image):
            c = self.lm.config
            return image.new_zeros(0, c.layers, c.heads, self.n_prefix + QUESTION_LENGTH)
        maps = self.lm.attention_maps(tokens.long(), prefix=self.image_tokens(image))
        rows = torch.arange(len(image), device=image.device)
        pos = self.answer_positions(tokens)
        return torch.stack([m[rows, :, pos] for m in maps], dim=1)

    def extra_repr(self) -> str:
        return f"n_prefix={self.n_prefix}, answer words {ANSWER_WORDS} = ids ({self.yes}, {self.no})"
