"""BERT's inputs, its masked-language-model masking and its two pretraining losses, drawn from real data.

Taught in chapter 7. :func:`bert_inputs` draws a real tokenized sentence pair and its three embeddings (token,
segment, position); :func:`masking` draws what :func:`troikadl.bert.mask_tokens` did to one pair;
:func:`pretraining_losses` plots the MLM and NSP losses of a run side by side.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..validate import as_float_array, as_int_array, check_instance, check_int, check_str_list
from .style import FONT, MAX_WIDTH, arrow, box, canvas, note, text_width

__all__ = ["bert_inputs", "masking", "pretraining_losses"]

_LABEL, _NOTE = FONT["label"], FONT["note"]


def _bands(columns: Sequence[Sequence[str]], left: float, groups: Sequence[int] | None = None, *,
           gap: float = 0.04) -> list[list[tuple]]:
    """Columns wide enough for their 10-pt texts (``columns[i]`` lists column i's texts), from ``left`` to the
    right edge: a list of bands, each a list of (index, centre x, width). If they do not fit in one band, a
    new band starts where ``groups`` changes (a new sentence) and wherever the right edge is reached."""
    widths = [max(0.28, max(text_width(t, _LABEL) for t in texts) + 0.07) for texts in columns]
    fits = left + sum(widths) + gap * (len(widths) - 1) <= MAX_WIDTH - 0.02
    bands: list[list[tuple]] = [[]]
    x = left
    for i, w in enumerate(widths):
        new_group = not fits and groups is not None and i > 0 and groups[i] != groups[i - 1]
        if bands[-1] and (x + w > MAX_WIDTH - 0.02 or new_group):
            bands.append([])
            x = left
        bands[-1].append((i, x + w / 2, w))
        x += w + gap
    return bands


def _check_bands(bands: list, band_h: float, name: str) -> None:
    if band_h * len(bands) > 11.0:
        n = sum(map(len, bands))
        raise ValueError(f"{name} must fit in {int(11.0 // band_h)} rows of the figure, got {n} tokens that need "
                         f"{len(bands)}: draw a shorter sequence")


def bert_inputs(tokens: Sequence[str], segments: Any, ids: Any = None) -> Any:
    """BERT's input for one tokenized sentence pair, [CLS] A [SEP] B [SEP]: under each token, the row of
    the token embedding (the token's id, when ``ids`` are given), of the segment embedding (0 for
    sentence A, 1 for B) and of the position embedding, which the model adds and layer-normalizes
    (chapter 7, section 7.4). Returns the figure.

    ``tokens`` are the pair's tokens (strings) and ``segments`` their segment ids, as
    :func:`troikadl.bert.pretrain.encode_pairs` makes them; long pairs wrap onto several bands.
    """
    tokens = check_str_list(tokens, "tokens")
    segments = as_int_array(segments, "segments", ndim=1, min=0, max=1)
    if len(segments) != len(tokens):
        raise ValueError(f"segments must hold one id per token ({len(tokens)}), got {len(segments)}")
    if ids is not None:
        ids = as_int_array(ids, "ids", ndim=1, min=0)
        if len(ids) != len(tokens):
            raise ValueError(f"ids must hold one id per token ({len(tokens)}), got {len(ids)}")
    texts = [(t, "" if ids is None else str(int(ids[i])), str(int(segments[i])), str(i)) for i, t in enumerate(tokens)]
    left = 0.74
    sep = [i for i, t in enumerate(tokens) if t == "[SEP]"][:1]
    bands = _bands(texts, left, [int(i > sep[0]) for i in range(len(tokens))] if sep else None)
    rows = (("input", "data"), ("token", "param"), ("segment", "param"), ("position", "param"))
    band_h, h = 2.1, 0.3
    _check_bands(bands, band_h, "tokens")
    fig, ax = canvas(MAX_WIDTH, band_h * len(bands) + 0.42)
    note(ax, 0.06, band_h * len(bands) + 0.22, "Under each token, the rows of the token, segment and position "
         "embedding tables\nthat it looks up (their indices); the model adds the three vectors.", ha="left")
    for b, band in enumerate(bands):
        top = band_h * (len(bands) - b) - 0.02
        ys = [top - 0.22, top - 0.7, top - 1.05, top - 1.4]
        for r, (name, _) in enumerate(rows):
            note(ax, 0.06, ys[r], ("+ " if r > 1 else "") + name, ha="left")
        for i, x, w in band:
            for r, ((name, role), text) in enumerate(zip(rows, texts[i])):
                box(ax, x, ys[r], w=w, h=h, role=role, shape="square" if r else "round")
                note(ax, x, ys[r], text, size=_LABEL, gid=f"{name}:{i}", parse_math=False)
            arrow(ax, (x, ys[0] - h / 2), (x, ys[1] + h / 2), lw=0.8)
            arrow(ax, (x, ys[3] - h / 2), (x, ys[3] - h / 2 - 0.2), lw=0.8)
        x0, x1 = band[0][1] - band[0][2] / 2, band[-1][1] + band[-1][2] / 2
        if MAX_WIDTH - x1 > 1.55:  # room beside a sentence's band: say what its rows hold
            segs = sorted({texts[i][2] for i, _, _ in band})
            if ids is not None and b == 0:
                note(ax, x1 + 0.2, ys[1], "token ids: rows of $E$", ha="left")
            note(ax, x1 + 0.2, ys[2], f"segment {', '.join(segs)}: sentence {'/'.join('AB'[int(g)] for g in segs)}",
                 ha="left")
            note(ax, x1 + 0.2, ys[3], f"positions {band[0][0]} to {band[-1][0]}", ha="left")
        text = "sum, then layer norm" + (": the input of encoder layer 1" if x1 - x0 > 3.4 else "")
        w = max(x1 - x0, text_width(text, _NOTE + 0.5) + 0.2)
        box(ax, x0 + w / 2, ys[3] - h / 2 - 0.37, text, w=w, h=0.32, role="op", size=_NOTE + 0.5)
    return fig


def masking(ids: Any, inputs: Any, labels: Any, tok: Any) -> Any:
    """What BERT's masking did to one sequence (chapter 7, section 7.3): the original tokens, the model's
    input, in which the selected positions (about 15%) became [MASK], a random token or stayed unchanged,
    and the labels the model must predict there (elsewhere -100, which the loss ignores). Returns the figure.

    ``ids`` are the original token ids, ``inputs`` and ``labels`` what :func:`troikadl.bert.mask_tokens`
    returned for them (one row, padding removed); ``tok`` is the :class:`~troikadl.bert.WordPiece` that
    names the ids. Every drawn token is read from these arrays.
    """
    from ..bert import WordPiece
    from ..train import IGNORE

    tok = check_instance(tok, "tok", WordPiece, "a troikadl.bert.WordPiece")
    V = len(tok)
    ids = as_int_array(ids, "ids", ndim=1, min=0, max=V - 1, nonempty=True)
    inputs = as_int_array(inputs, "inputs", ndim=1, min=0, max=V - 1)
    labels = as_int_array(labels, "labels", ndim=1, min=IGNORE, max=V - 1)
    for name, a in (("inputs", inputs), ("labels", labels)):
        if len(a) != len(ids):
            raise ValueError(f"{name} must have the length of ids ({len(ids)}), got {len(a)}")
    selected = labels != IGNORE
    if np.any(labels[selected] != ids[selected]) or np.any(labels[selected] < 0):
        raise ValueError(f"labels must hold the original id at selected positions and {IGNORE} elsewhere")
    if np.any(inputs[~selected] != ids[~selected]):
        raise ValueError("inputs must equal ids wherever labels are ignored (only selected positions change)")
    kind = np.where(~selected, "", np.where(inputs == tok.mask_id, "masked",
                                            np.where(inputs == ids, "unchanged", "random")))
    texts = [(tok.vocab[i], tok.vocab[j], tok.vocab[k] if k != IGNORE else "–")
             for i, j, k in zip(ids, inputs, labels)]
    bands = _bands(texts, 0.95, np.cumsum(np.r_[0, ids[:-1] == tok.sep_id]))
    band_h, h = 1.75, 0.3
    _check_bands(bands, band_h, "ids")
    fig, ax = canvas(MAX_WIDTH, band_h * len(bands) + 0.5)
    regular = ~np.isin(ids, [tok.cls_id, tok.sep_id, tok.pad_id])
    counts = {k: int(np.sum(kind == k)) for k in ("masked", "random", "unchanged")}
    note(ax, 0.06, band_h * len(bands) + 0.3, f"selected for prediction: {int(selected.sum())} of {int(regular.sum())} "
         f"regular tokens;  of these, {counts['masked']} became [MASK], {counts['random']} a random token, "
         f"{counts['unchanged']} unchanged", ha="left")
    note(ax, 0.06, band_h * len(bands) + 0.1, "labels: the original token at the selected positions, "
         f"– ({IGNORE}, ignored by the loss) elsewhere", ha="left")
    for b, band in enumerate(bands):
        top = band_h * (len(bands) - b) - 0.05
        ys = [top - 0.2, top - 0.8, top - 1.4]
        for r, label in enumerate(("original", "model input", "label")):
            note(ax, 0.06, ys[r], label, ha="left")
        for i, x, w in band:
            sel = bool(selected[i])
            box(ax, x, ys[0], w=w, h=h, role="data")
            box(ax, x, ys[1], w=w, h=h, role="focus" if sel else "plain", lw=1.6 if sel else 0.8)
            if sel:
                box(ax, x, ys[2], w=w, h=h, role="out")
                note(ax, x, ys[1] - h / 2 - 0.1, kind[i], size=8, gid=f"kind:{i}")
            arrow(ax, (x, ys[0] - h / 2), (x, ys[1] + h / 2), lw=1.2 if sel else 0.6,
                  kind="forward" if sel else "muted")
            for r, (row, text) in enumerate(zip(("original", "input", "label"), texts[i])):
                note(ax, x, ys[r], text, size=_LABEL, gid=f"{row}:{i}", parse_math=False,
                     color="#333333" if r < 2 or sel else "#8c8c8c")
    return fig


def pretraining_losses(mlm: Any, nsp: Any, *, window: int = 25) -> Any:
    """The two losses of a pretraining run, step by step, in two panels (chapter 7, section 7.6): the MLM loss,
    and the NSP loss with ln 2, the loss of a fair coin, dashed. Each panel shows the raw losses (faint) and
    their moving average over ``window`` steps. ``mlm`` and ``nsp`` are the ``.mlm`` and ``.nsp`` lists of what
    :func:`troikadl.bert.pretrain.pretrain` returns (same length; ``nsp`` may be all NaN, for a run without NSP:
    its panel then says so). Returns the figure.
    """
    import matplotlib.pyplot as plt

    mlm = as_float_array(mlm, "mlm", ndim=1, nonempty=True)
    nsp = as_float_array(nsp, "nsp", ndim=1, finite=False)
    if len(nsp) != len(mlm):
        raise ValueError(f"nsp must have the length of mlm ({len(mlm)}), got {len(nsp)}")
    if np.isinf(nsp).any() or (np.isnan(nsp).any() and not np.isnan(nsp).all()):
        raise ValueError("nsp must be finite, or all NaN (a run without next-sentence prediction)")
    window = check_int(window, "window", min=1, max=len(mlm))
    fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH - 0.1, 2.9))
    steps = np.arange(len(mlm))
    for ax, values, name in ((axes[0], mlm, "MLM"), (axes[1], nsp, "NSP")):
        ax.set(xlabel="step", ylabel=f"{name} loss", title=f"{name} loss")
        if np.isnan(values).all():
            ax.text(0.5, 0.5, "not trained", ha="center", va="center", transform=ax.transAxes, gid="untrained")
            continue
        ax.plot(steps, values, lw=0.6, alpha=0.45, color="C0", label="each step")
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, lw=1.6, color="C1", label=f"mean of {window} steps")
    if not np.isnan(nsp).all():
        axes[1].axhline(np.log(2), color="#666666", lw=1, ls="--", label="ln 2 (a coin flip)")
        axes[1].legend(fontsize=_NOTE, loc="upper right")
    fig.tight_layout()
    return fig
