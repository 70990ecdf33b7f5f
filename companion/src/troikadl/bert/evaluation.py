"""What a pretrained BERT has learned, measured: masked-token accuracy, NSP accuracy, and fill-in-the-blank.

Taught in chapter 7. :func:`masked_accuracy` and :func:`nsp_accuracy` score held-out sentence pairs (a
:class:`~troikadl.bert.pairs.PairData`); :func:`fill_mask` shows the model's top guesses for each
``[MASK]`` of a sentence, as Hugging Face's ``fill-mask`` pipeline does. Each leaves the model in the
training or evaluation mode it was in.
"""

from __future__ import annotations

from typing import Any

import torch

from ..train import IGNORE
from ..validate import check_instance, check_int, check_positive, check_str
from .model import Bert
from .pairs import PairData
from .wordpiece import WordPiece

__all__ = ["masked_accuracy", "nsp_accuracy", "fill_mask"]


def _check_model(model: Any) -> None:
    if not isinstance(model, Bert):
        raise TypeError(f"model must be a troikadl Bert, got {type(model).__name__}")


@torch.no_grad()
def masked_accuracy(model: Bert, data: PairData, *, batches: int = 10, batch_size: int = 64, seed: int = 12345,
                    proportions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> float:
    """Share of masked tokens the model predicts exactly, over ``batches`` seeded held-out batches.

    The batches are :func:`~troikadl.bert.pretrain.batch_for_step`'s for steps ``0 .. batches - 1`` and
    ``seed``, masked with ``proportions`` (mask, random, unchanged): the same positions are selected
    whatever the proportions, so ``(1, 0, 0)`` scores the same tokens with every one of them hidden.
    """
    from .pretrain import batch_for_step

    _check_model(model)
    check_instance(data, "data", PairData, "a PairData (from encode_pairs or a task)")
    check_positive(batches, "batches", integer=True)
    check_positive(batch_size, "batch_size", integer=True)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = total = 0
    for b in range(batches):
        batch = batch_for_step(data, b, min(batch_size, len(data.ids)), seed, proportions=proportions)
        logits, _ = model(*(torch.as_tensor(batch[k], device=device) for k in ("ids", "segments", "attention")))
        labels = torch.as_tensor(batch["labels"], device=device)
        sel = labels != IGNORE
        correct += int((logits.argmax(-1)[sel] == labels[sel]).sum())
        total += int(sel.sum())
    model.train(was_training)
    return correct / max(total, 1)


@torch.no_grad()
def nsp_accuracy(model: Bert, data: PairData, *, batch_size: int = 256) -> float:
    """Share of the pairs of ``data`` (unmasked) whose next-sentence label the NSP head predicts (its argmax).

    ``data.nsp`` holds 1 where B follows A and 0 where B is random (:func:`~troikadl.data.corpus.sentence_pairs`):
    on held-out pairs with both labels equally common, 0.5 is chance.
    """
    _check_model(model)
    check_instance(data, "data", PairData, "a PairData (from encode_pairs)")
    check_int(batch_size, "batch_size", min=1)
    if len(data.ids) == 0:
        raise ValueError("data must hold at least one pair")
    if data.nsp.size and (data.nsp.min() < 0 or data.nsp.max() > 1):
        raise ValueError(f"data.nsp must hold next-sentence labels 0 and 1, got values up to {data.nsp.max()}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(data.ids), batch_size):
        _, logits = model(*(torch.as_tensor(a[i:i + batch_size], device=device)
                            for a in (data.ids, data.segments, data.attention)))
        correct += int((logits.argmax(-1).cpu() == torch.as_tensor(data.nsp[i:i + batch_size])).sum())
    model.train(was_training)
    return correct / len(data.ids)


@torch.no_grad()
def fill_mask(model: Bert, tok: WordPiece, text: str, top_k: int = 5) -> list[list[tuple[str, float]]]:
    """The ``top_k`` most probable tokens, with their probabilities, at each ``[MASK]`` of ``text``.

    ``text`` is one sentence in which the literal string "[MASK]" marks each blank (case matters, as in
    Hugging Face's tokenizers); the model reads ``[CLS] text [SEP]`` as segment 0, without padding, as
    the ``fill-mask`` pipeline of Hugging Face's ``transformers`` does. Returns one list per ``[MASK]``,
    left to right, of ``(token, probability)`` pairs, most probable first; the probabilities are the
    softmax over the whole vocabulary at that position.
    """
    _check_model(model)
    check_instance(tok, "tok", WordPiece)
    check_str(text, "text")
    top_k = check_int(top_k, "top_k", min=1, max=len(tok))
    if len(tok) != model.settings.vocab_size:
        raise ValueError(f"tok has {len(tok)} tokens but the model's vocabulary has {model.settings.vocab_size}: "
                         f"they do not belong together")
    parts = text.split("[MASK]")
    if len(parts) < 2:
        raise ValueError(f"text must contain at least one '[MASK]', got {text!r}")
    ids = [tok.cls_id]
    for i, part in enumerate(parts):
        ids += ([tok.mask_id] if i else []) + tok.encode(part)
    ids.append(tok.sep_id)
    if len(ids) > model.settings.max_length:
        raise ValueError(f"text is {len(ids)} tokens long with [CLS] and [SEP], more than the model's max_length "
                         f"{model.settings.max_length}")
    was_training = model.training
    model.eval()
    x = torch.tensor([ids], device=next(model.parameters()).device)
    logits, _ = model(x, torch.zeros_like(x), torch.ones_like(x))
    model.train(was_training)
    probs = logits[0, x[0] == tok.mask_id].softmax(-1)
    top = probs.topk(top_k, dim=-1)
    return [[(tok.vocab[int(j)], float(p)) for p, j in zip(values, indices)]
            for values, indices in zip(top.values.cpu(), top.indices.cpu())]
