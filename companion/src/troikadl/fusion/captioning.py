"""Image captioning: a Transformer decoder that cross-attends to a grid of image features.

Taught in chapter 11. :class:`ImageCaptioner` is the encoder-decoder Transformer of
:class:`troikadl.transformer.Seq2SeqTransformer` with its text encoder replaced by a small CNN: the image becomes
a ``grid x grid`` map of feature vectors ("patches"), each given a learned 2-D position (a row vector plus a
column vector), and these patches are the decoder's memory. Everything on the text side (token and position
embeddings, causal self-attention, cross-attention to the memory, readout, ``greedy_decode``,
``cross_attention_maps``) is inherited unchanged. This is the design of Show, Attend and Tell (Xu et al., 2015)
with a Transformer decoder in place of their LSTM.

:func:`caption_scores` decodes captions greedily and scores them against the references: exact match, per-token
accuracy, and corpus BLEU-4 (:func:`troikadl.language_model.bleu.bleu`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.translation import BOS, EOS, PAD
from ..language_model.bleu import bleu
from ..transformer.seq2seq import Seq2SeqTransformer
from ..validate import as_int_array, as_tensor, check_int, check_positive

__all__ = ["ImageCaptioner", "caption_scores", "strip_caption"]


class ImageCaptioner(Seq2SeqTransformer):
    """``model(images, tgt_in)`` -> (batch, L, vocab_size) logits: a caption decoder reading a CNN's feature grid.

    ``images`` are float (batch, ``channels``, ``image_size``, ``image_size``); ``tgt_in`` token ids starting with
    ``<bos>`` (ids as in :mod:`troikadl.data.translation`), at most ``caption_len`` long. The image encoder:
    a 3x3 convolution (``conv_channels``) and ReLU, 2x2 max-pooling, a 3x3 convolution to ``d_model``
    channels and ReLU, max-pooling to ``grid`` x ``grid`` (adaptive), a linear map of each
    patch's features, plus the row's and the column's learned position vectors, and a LayerNorm. Patches are
    numbered row by row: patch ``p`` is row ``p // grid``, column ``p % grid``. ``d_model``, ``heads``, ``d_ff``
    and ``dec_layers`` size the decoder as in :class:`~troikadl.transformer.Seq2SeqTransformer`.
    """

    def __init__(self, vocab_size: int, caption_len: int, *, image_size: int = 24, channels: int = 3,
                 grid: int = 4, conv_channels: int = 16, d_model: int = 32, heads: int = 4, d_ff: int = 64,
                 dec_layers: int = 1) -> None:
        grid = check_int(grid, "grid", min=1)
        channels = check_int(channels, "channels", min=1)
        conv_channels = check_int(conv_channels, "conv_channels", min=1)
        image_size = check_int(image_size, "image_size", min=2 * grid)  # the first pooling halves it
        if check_int(vocab_size, "vocab_size") < EOS + 2:
            raise ValueError(f"vocab_size must be >= {EOS + 2} (the {EOS + 1} special tokens <pad> <bos> <eos> "
                             f"and at least one word), got {vocab_size}")
        caption_len = check_int(caption_len, "caption_len", min=1)
        super().__init__(EOS + 2, vocab_size, grid * grid, caption_len, d_model=d_model, heads=heads, d_ff=d_ff,
                         enc_layers=1, dec_layers=dec_layers)
        del self.src_tokens, self.src_positions, self.encoder  # the text encoder is replaced by the image encoder
        self.src_vocab = None
        self.grid, self.channels, self.image_size = grid, channels, image_size
        self.cnn = nn.Sequential(nn.Conv2d(channels, conv_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(conv_channels, d_model, 3, padding=1), nn.ReLU(),
                                 nn.AdaptiveMaxPool2d(grid))
        self.patch = nn.Linear(d_model, d_model)
        self.rows, self.cols = nn.Embedding(grid, d_model), nn.Embedding(grid, d_model)

    def _images(self, images: Any) -> torch.Tensor:
        if not torch.is_tensor(images) and not isinstance(images, np.ndarray):
            raise TypeError(f"images must be a float tensor or array, got {type(images).__name__}")
        images = as_tensor(images, "images", ndim=4)
        want = (self.channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != want or images.shape[0] == 0:
            raise ValueError(f"images must be (batch >= 1, {', '.join(map(str, want))}), got {tuple(images.shape)}")
        return images.to(device=self.readout.weight.device, dtype=self.readout.weight.dtype)

    def positions(self) -> torch.Tensor:
        """The learned 2-D position vectors of the patches, (grid * grid, d_model): row vector + column vector."""
        return (self.rows.weight[:, None, :] + self.cols.weight[None, :, :]).reshape(self.grid ** 2, -1)

    def encode(self, src: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The image as memory, (batch, grid * grid, d_model) patches in row-major order, and its padding mask
        (batch, grid * grid), all ``False``: every patch may be attended to."""
        x = self.cnn(self._images(src))                    # (batch, d_model, grid, grid)
        x = self.patch(x.flatten(2).transpose(1, 2))       # (batch, grid * grid, d_model), row by row
        memory = self.enc_norm(x + self.positions())
        return memory, torch.zeros(memory.shape[:2], dtype=torch.bool, device=memory.device)


def strip_caption(ids: Any) -> list[int]:
    """The word ids of one caption: up to its first ``<eos>``, without ``<pad>`` and ``<bos>``."""
    ids = as_int_array(ids, "ids", ndim=1, min=0).tolist()
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(i)
    return out


def caption_scores(model: ImageCaptioner, images: Any, captions: Any, *, batch_size: int = 512) -> dict[str, float]:
    """Greedy captions of ``images`` scored against the reference ``captions`` (n, L) ``<bos> ... <eos>`` ids.

    ``exact``: the fraction of images whose decoded caption equals the reference, ``<eos>`` included.
    ``token``: the fraction of reference tokens after ``<bos>`` (``<eos>`` included, ``<pad>`` not) that the
    decoded caption has at the same position, the decoder reading its *own* previous outputs.
    ``teacher_forced``: the same fraction when it reads the *true* previous tokens (as in training).
    ``bleu``: corpus BLEU-4 of the decoded words against the reference words (one reference each, no smoothing).
    """
    if not isinstance(model, ImageCaptioner):
        raise TypeError(f"model must be an ImageCaptioner, got {type(model).__name__}")
    check_positive(batch_size, "batch_size", integer=True)
    images = model._images(images)
    captions = model._ids(captions, "captions", model.tgt_vocab, model.tgt_len)
    if captions.shape[0] != images.shape[0] or captions.shape[1] < 2:
        raise ValueError(f"captions must be ({images.shape[0]}, >= 2): one <bos> ... <eos> row per image, "
                         f"got {tuple(captions.shape)}")
    if bool((captions[:, 0] != BOS).any()):
        raise ValueError(f"captions must start with <bos> ({BOS}) in every row")
    was_training = model.training
    model.eval()
    length = captions.shape[1]
    decoded, tf_hits = [], 0.0
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x, t = images[i:i + batch_size], captions[i:i + batch_size]
            got = model.greedy_decode(x, length)
            decoded.append(torch.cat([got, got.new_full((len(x), length - got.shape[1]), PAD)], dim=1))
            tf_hits += float(((model(x, t[:, :-1]).argmax(-1) == t[:, 1:]) & (t[:, 1:] != PAD)).sum())
    model.train(was_training)
    got, want = torch.cat(decoded)[:, 1:], captions[:, 1:]
    real = want != PAD
    n_tokens = float(real.sum())
    hyps = [strip_caption(row) for row in got.cpu()]
    refs = [[strip_caption(row)] for row in captions.cpu()]
    return {"exact": float((got == want).all(dim=1).float().mean()),
            "token": float(((got == want) & real).sum()) / n_tokens,
            "teacher_forced": tf_hits / n_tokens,
            "bleu": bleu(hyps, refs, max_n=4)}
