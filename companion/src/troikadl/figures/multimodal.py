"""Diagrams of vision-language models: image features read by a language model as prefix tokens.

Taught in chapter 11. :func:`prefix_tokens` draws :class:`troikadl.fusion.prefix.PrefixVQA`: the image goes
through an encoder and a projector to ``P`` image tokens, which are concatenated before the question's word
embeddings; one decoder-only language model reads the whole sequence, and its next-word logits at the
question's last word give the answer ("yes" against "no"). Every size written is read from the model.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_instance, check_str
from .style import EDGES, FONT, arrow, box, canvas, cells, note

__all__ = ["prefix_tokens"]


def _sizes(model: Any) -> dict[str, Any]:
    c = model.lm.config
    return {"P": model.n_prefix, "d": c.d_model, "layers": c.layers, "heads": c.heads,
            "features": model.projector.in_features, "frozen": model.frozen, "vocab": c.vocab_size}


def prefix_tokens(model: Any = None, question: str = "is it even ?") -> Any:
    """Image tokens before word tokens, one decoder-only language model, the answer at the last word.

    ``model`` is a :class:`~troikadl.fusion.prefix.PrefixVQA` whose sizes are drawn (default: one built with
    its default settings on the mini-VQA vocabulary); ``question`` is a mini-VQA question, drawn word by word
    with its padding. Gold marks where the two modalities meet (the decoder's self-attention) and the position
    whose next-word logits give the answer.
    """
    from ..data import vqa
    from ..fusion.prefix import ANSWER_WORDS, PrefixVQA

    if model is None:
        model = PrefixVQA(vocab_size=len(vqa.VOCAB))
    check_instance(model, "model", PrefixVQA, "a PrefixVQA model")
    ids = vqa.encode_question(check_str(question, "question"))
    words = [vqa.VOCAB[i] if i else "pad" for i in ids]
    n_words = int((ids != 0).sum())
    z = _sizes(model)
    P = z["P"]
    shown = [f"img {k + 1}" for k in range(P)] if P <= 8 else ["img 1", "img 2", "…", f"img {P}"]
    n = len(shown) + len(words)
    cell = min(0.55, 5.2 / n)
    fig, ax = canvas(7.0, 3.75)
    x0, top = 7.0 - 0.15 - n * cell, 1.85
    roles = [["param"] * len(shown) + ["data"] * n_words + ["muted"] * (len(words) - n_words)]
    grid = cells(ax, x0, top, [shown + words], cell=cell, role=roles, fmt="{}", size=7.0 if cell < 0.5 else 7.5)
    img_x = x0 + len(shown) * cell / 2
    word_x = x0 + (len(shown) + len(words) / 2) * cell
    answer_x = x0 + (len(shown) + max(n_words, 1) - 1 + 0.5) * cell if n_words else x0 + (len(shown) - 0.5) * cell
    bottom = top - cell

    image = box(ax, 0.8, 0.35, "image: 64 px", role="data", w=1.3, h=0.38, size=9.0)
    enc_text = f"encoder → {z['features']}" + (" (frozen)" if z["frozen"] else "")
    enc = box(ax, 0.8, 1.0, enc_text, role="muted" if z["frozen"] else "op", w=1.45, h=0.38, size=8.5)
    proj = box(ax, max(img_x, 2.5), 1.0, f"projector → {P} × {z['d']}", role="param", w=1.65, h=0.38, size=8.5)
    arrow(ax, image.top, enc.bottom)
    arrow(ax, enc.right, proj.left)
    arrow(ax, proj.top, (img_x, bottom))
    q = box(ax, word_x, 0.35, f"question: {question}", role="data", w=min(2.9, len(words) * cell + 0.3), h=0.38,
            size=8.5)
    arrow(ax, q.top, (word_x, bottom), text="word embeddings", text_offset=(0.0, 0.05))
    note(ax, x0 - 0.08, top - cell / 2, "one\nsequence", ha="right", size=FONT["note"])

    lm_y = top + 0.55
    blocks = f"{z['layers']} block" + ("s" if z["layers"] != 1 else "")
    lm = box(ax, 7.0 - 0.15 - 2.6, lm_y, f"decoder-only LM ({blocks}): causal self-attention over all "
             f"{P} + {len(words)} positions", role="focus", w=5.2, h=0.45, size=8.5)
    arrow(ax, (grid.x, top), (grid.x, lm.bottom[1]))
    out = box(ax, min(max(answer_x, 1.6), 7.0 - 1.6), lm_y + 0.75,
              f"next word at the last word: logit({ANSWER_WORDS[0]}) − logit({ANSWER_WORDS[1]})", role="out",
              w=3.1, h=0.38, size=8.5)
    arrow(ax, (answer_x, lm.top[1]), out.bottom)
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((answer_x - cell / 2, bottom), cell, cell, fill=False, edgecolor=EDGES["out"], lw=2.0,
                           zorder=4, gid="answer-position"))
    note(ax, 0.1, 3.55, f"Image tokens for a language model ({P} image token{'s' if P > 1 else ''}, "
         f"width {z['d']})", ha="left",
         size=FONT["label"], fontweight="bold")
    return fig
