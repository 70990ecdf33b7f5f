"""The attention, encoder-block and BERT diagrams (troikadl.figures.attention): drawn headless, no wider than
the book's column, true to the package's data (shapes, tokens, segment ids, the masking function's output),
and refusing bad input with the argument's name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from troikadl import attention as A  # noqa: E402
from troikadl.bert import WordPiece, mask_tokens  # noqa: E402
from troikadl.bert.pretrain import encode_pairs  # noqa: E402
from troikadl.figures import attention as F  # noqa: E402
from troikadl.figures import bert as FB  # noqa: E402
from troikadl.train import IGNORE  # noqa: E402
from figure_checks import assert_fits  # noqa: E402

SENTENCES = ["Return the socket file number.", "Interface required by the selector.",
             "Search the mailbox for matching messages.", "Process the next command of the debugger.",
             "Return a list of the keys in the mapping.", "Close the file and flush its buffers."] * 3


@pytest.fixture(scope="module")
def tok():
    return WordPiece.train(SENTENCES, 200)


@pytest.fixture(scope="module")
def pair(tok):
    """One encoded sentence pair, padding removed: (tokens, segments, ids, special)."""
    data = encode_pairs([(SENTENCES[0], SENTENCES[1])], [1], tok, max_length=32)
    keep = data.attention[0] == 1
    ids = data.ids[0][keep]
    return [tok.vocab[i] for i in ids], data.segments[0][keep], ids, data.special[0][keep]


def texts(fig, prefix=None):
    """The figure's text artists: all their strings, or {index: string} for those whose gid is ``prefix:i``."""
    artists = [t for ax in fig.axes for t in ax.texts]
    if prefix is None:
        return [t.get_text() for t in artists]
    found = {}
    for t in artists:
        kind, _, key = (t.get_gid() or "").partition(":")
        if kind == prefix:
            found[int(key) if key.isdigit() else key] = t.get_text()
    return found


def drawn(fig):
    """Check the figure fits the column with legible lettering; close it and return it."""
    assert_fits(fig)
    plt.close(fig)
    return fig


def test_sdpa_shapes_are_the_functions():
    strings = texts(drawn(F.scaled_dot_product_attention()))
    assert {"mask", "softmax", "(optional)"} <= set(strings)
    assert texts(F.scaled_dot_product_attention(), "shape") == {"Q": "($L_q$, $d_k$)", "K": "($L_k$, $d_k$)",
                                                                 "V": "($L_k$, $d_v$)"}
    out, w = A.scaled_dot_product_attention(np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((5, 2)))
    fig = drawn(F.scaled_dot_product_attention((3, 5, 4, 2), mask=False))
    strings = texts(fig)
    assert f"scores\n{w.shape}" in strings and str(out.shape) in strings and "mask" not in strings
    assert texts(fig, "shape") == {"Q": "(3, 4)", "K": "(5, 4)", "V": "(5, 2)"}
    plt.close("all")


@pytest.mark.parametrize("heads", [1, 4, 8])
def test_mha_heads(heads):
    fig = drawn(F.multi_head_attention(heads, d_model=8 * heads))
    shown = [s for s in texts(fig) if s.startswith("head ")]
    want = list(range(1, heads + 1)) if heads <= 4 else [1, 2, heads]
    assert shown == [f"head {m}\nattention" for m in want]
    assert any(f"$d_k$ = {8 * heads}/{heads} = 8" in s for s in texts(fig))
    assert ("…" in texts(fig)) == (heads > 4)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_order(norm_first):
    fig = F.encoder_block(norm_first, activation="gelu")
    ax = fig.axes[0]
    x = {}
    for t in ax.texts:
        x.setdefault(t.get_text(), []).append(t.get_position()[0])
    drawn(fig)
    ln, mha, mlp, plus = x["layer\nnorm"], x["multi-head\nattention"][0], x["MLP"][0], x["+"]
    assert len(ln) == 2 and len(plus) == 2
    if norm_first:  # as troikadl.attention.encoder_block: x + MHA(LN1(x)), then x + MLP(LN2(x))
        assert ln[0] < mha < plus[0] < ln[1] < mlp < plus[1]
    else:  # LN1(x + MHA(x)), then LN2(x + MLP(x))
        assert mha < plus[0] < ln[0] < mlp < plus[1] < ln[1]
    assert any("gelu" in s for s in x)


def test_bert_inputs_draws_the_tokens_and_segments(pair):
    tokens, segments, ids, _ = pair
    assert tokens[0] == "[CLS]" and set(segments.tolist()) == {0, 1}
    fig = drawn(FB.bert_inputs(tokens, segments, ids))
    n = len(tokens)
    assert texts(fig, "input") == dict(enumerate(tokens))
    assert texts(fig, "segment") == {i: str(s) for i, s in enumerate(segments)}
    assert texts(fig, "token") == {i: str(t) for i, t in enumerate(ids)}
    assert texts(fig, "position") == {i: str(i) for i in range(n)}


def test_bert_inputs_long_pair_wraps(tok):
    data = encode_pairs([(" ".join(SENTENCES[:3]), " ".join(SENTENCES[3:6]))], [1], tok, max_length=64)
    keep = data.attention[0] == 1
    tokens = [tok.vocab[i] for i in data.ids[0][keep]]
    assert len(tokens) > 30
    fig = drawn(FB.bert_inputs(tokens, data.segments[0][keep]))
    assert texts(fig, "input") == dict(enumerate(tokens))
    assert set(texts(fig, "token").values()) == {""}
    with pytest.raises(ValueError, match=r"\btokens\b"):
        FB.bert_inputs(tokens * 4, np.tile(data.segments[0][keep], 4))


def test_masking_draws_mask_tokens_output(tok, pair):
    _, _, ids, special = pair
    for seed in range(100):  # the first seed whose selection shows all three outcomes
        inputs, labels = mask_tokens(ids, special, vocab_size=len(tok), mask_id=tok.mask_id,
                                     rng=np.random.default_rng(seed), p=0.5)
        selected = labels != IGNORE
        kinds = {i: "masked" if inputs[i] == tok.mask_id else "unchanged" if inputs[i] == ids[i] else "random"
                 for i in np.flatnonzero(selected)}
        if set(kinds.values()) == {"masked", "random", "unchanged"}:
            break
    assert set(kinds.values()) == {"masked", "random", "unchanged"}
    fig = drawn(FB.masking(ids, inputs, labels, tok))
    assert texts(fig, "original") == {i: tok.vocab[t] for i, t in enumerate(ids)}
    assert texts(fig, "input") == {i: tok.vocab[t] for i, t in enumerate(inputs)}
    assert texts(fig, "label") == {i: tok.vocab[t] if t != IGNORE else "–" for i, t in enumerate(labels)}
    assert texts(fig, "kind") == kinds


def test_bad_input(tok, pair):
    tokens, segments, ids, special = pair
    inputs, labels = mask_tokens(ids, special, vocab_size=len(tok), mask_id=tok.mask_id,
                                 rng=np.random.default_rng(0), p=0.5)
    bad = [
        (lambda: F.scaled_dot_product_attention((3, 5, 4)), ValueError, "shapes"),
        (lambda: F.scaled_dot_product_attention("3544"), TypeError, "shapes"),
        (lambda: F.scaled_dot_product_attention(mask="no"), TypeError, "mask"),
        (lambda: F.multi_head_attention(0), ValueError, "heads"),
        (lambda: F.multi_head_attention(2.0), TypeError, "heads"),
        (lambda: F.multi_head_attention(4, d_model=30), ValueError, "d_model"),
        (lambda: F.encoder_block("yes"), TypeError, "norm_first"),
        (lambda: F.encoder_block(activation="tanh"), ValueError, "activation"),
        (lambda: FB.bert_inputs("[CLS] a [SEP]", [0, 0, 0]), TypeError, "tokens"),
        (lambda: FB.bert_inputs(tokens, segments[:-1]), ValueError, "segments"),
        (lambda: FB.bert_inputs(tokens, segments + 1), ValueError, "segments"),
        (lambda: FB.bert_inputs(tokens, segments, ids[:-1]), ValueError, "ids"),
        (lambda: FB.masking(ids, inputs, labels, None), TypeError, "tok"),
        (lambda: FB.masking(ids, inputs[:-1], labels, tok), ValueError, "inputs"),
        (lambda: FB.masking(ids, inputs, np.where(labels == IGNORE, IGNORE, 7), tok), ValueError, "labels"),
        (lambda: FB.masking(ids, np.full_like(ids, tok.mask_id), np.full_like(ids, IGNORE), tok), ValueError,
         "inputs"),
        (lambda: FB.masking(ids.astype(float) + 0.5, inputs, labels, tok), ValueError, "ids"),
    ]
    for call, error, name in bad:
        with pytest.raises(error, match=rf"\b{name}\b"):
            call()
    plt.close("all")


def _lines(ax):
    return {line.get_label(): (line.get_xdata(), line.get_ydata()) for line in ax.get_lines()}


def test_pretraining_losses_plots_each_loss_and_its_moving_average():
    rng = np.random.default_rng(0)
    mlm, nsp = 7 - np.linspace(0, 3, 60) + rng.normal(0, 0.2, 60), 0.7 + rng.normal(0, 0.05, 60)
    fig = FB.pretraining_losses(mlm, nsp, window=10)
    mlm_ax, nsp_ax = fig.axes
    assert fig.get_size_inches()[0] <= 6.9 + 1e-9
    assert mlm_ax.get_ylabel() == "MLM loss" and nsp_ax.get_ylabel() == "NSP loss"
    for ax, values in ((mlm_ax, mlm), (nsp_ax, nsp)):
        lines = _lines(ax)
        x, y = lines["each step"]
        assert np.array_equal(x, np.arange(60)) and np.array_equal(y, values)
        x, y = lines["mean of 10 steps"]   # the mean of steps i-9 .. i, drawn at step i
        assert np.array_equal(x, np.arange(9, 60)) and np.allclose(y, [values[i - 9:i + 1].mean() for i in x])
    assert np.allclose(_lines(nsp_ax)["ln 2 (a coin flip)"][1], np.log(2))
    drawn(fig)


def test_pretraining_losses_of_a_run_without_nsp():
    mlm = np.linspace(8, 5, 30)
    fig = FB.pretraining_losses(mlm, np.full(30, np.nan))
    mlm_ax, nsp_ax = fig.axes
    assert len(mlm_ax.get_lines()) == 2 and np.array_equal(mlm_ax.get_lines()[0].get_ydata(), mlm)
    assert not nsp_ax.get_lines() and [t.get_text() for t in nsp_ax.texts] == ["not trained"]
    drawn(fig)


def test_pretraining_losses_bad_input():
    ok = np.linspace(8, 5, 30)
    bad = [
        (lambda: FB.pretraining_losses("1 2 3", ok), TypeError, "mlm"),
        (lambda: FB.pretraining_losses([], []), ValueError, "mlm"),
        (lambda: FB.pretraining_losses(np.r_[ok[:-1], np.nan], ok), ValueError, "mlm"),
        (lambda: FB.pretraining_losses(ok, ok[:-1]), ValueError, "nsp"),
        (lambda: FB.pretraining_losses(ok, np.r_[ok[:-1], np.nan]), ValueError, "nsp"),
        (lambda: FB.pretraining_losses(ok, np.r_[ok[:-1], np.inf]), ValueError, "nsp"),
        (lambda: FB.pretraining_losses(ok, ok, window=0), ValueError, "window"),
        (lambda: FB.pretraining_losses(ok, ok, window=31), ValueError, "window"),
        (lambda: FB.pretraining_losses(ok, ok, window=2.5), TypeError, "window"),
    ]
    for call, error, name in bad:
        with pytest.raises(error, match=rf"\b{name}\b"):
            call()
    plt.close("all")
