"""The decoder-side diagrams of chapter 6 (troikadl.figures.decoder): they fit the book's column, their causal
masks are troikadl.attention.causal_mask's, the pre- and post-norm blocks put LayerNorm where the variant puts
it, the key-value cache's counts follow the step, and bad input is refused naming the argument."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from troikadl import attention as A  # noqa: E402
from troikadl.figures import decoder as D  # noqa: E402
from troikadl.figures.style import COLORS  # noqa: E402
from figure_checks import assert_fits, texts  # noqa: E402


def tagged(fig, prefix):
    """{key: text} of the texts whose gid is ``prefix:key`` (key an int where it is one)."""
    found = {}
    for t in fig.axes[0].texts:
        kind, _, key = (t.get_gid() or "").partition(":")
        if kind == prefix:
            found[int(key) if key.isdigit() else key] = t.get_text()
    return found


def drawn_mask(fig):
    """The causal-mask grid read back from its cells' fills: True where drawn allowed (the data colour)."""
    cells = {p.get_gid(): p.get_facecolor() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("mask ")}
    n = int(round(len(cells) ** 0.5))
    assert n * n == len(cells) and n > 0
    grid = np.zeros((n, n), dtype=bool)
    for gid, colour in cells.items():
        _, i, j = gid.split()
        assert colour in (to_rgba(COLORS["data"]), to_rgba(COLORS["muted"])), gid
        grid[int(i), int(j)] = colour == to_rgba(COLORS["data"])
    return grid


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("n", [2, 5, 8])
def test_decoder_block_fits_and_its_mask_is_the_package_s(norm_first, n):
    fig = D.decoder_block(norm_first, mask_size=n)
    assert_fits(fig)
    np.testing.assert_array_equal(drawn_mask(fig), A.causal_mask(n))
    strings = texts(fig)
    assert "causal multi-head\nself-attention" in strings and "next-token logits $(L, V)$" in strings
    assert any(s.startswith("tied") for s in strings) and any(f"$L$ = {n}" in s for s in strings)


@pytest.mark.parametrize("norm_first", [True, False])
def test_pre_and_post_norm_put_layernorm_where_the_variant_does(norm_first):
    fig = D.decoder_block(norm_first)
    block = tagged(fig, "block")
    order = [block[k] for k in sorted(block)]
    attn = "causal multi-head\nself-attention"
    if norm_first:   # h + MHA(LN(h)), then h + MLP(LN(h)); a final LayerNorm before the head
        assert order == ["LayerNorm", attn, "+", "LayerNorm", "MLP", "+"]
        assert [tagged(fig, "head")[k] for k in sorted(tagged(fig, "head"))][0] == "final LayerNorm"
    else:            # LN(h + MHA(h)), then LN(h + MLP(h)); no final LayerNorm
        assert order == [attn, "+", "LayerNorm", "MLP", "+", "LayerNorm"]
        assert "final LayerNorm" not in texts(fig)
    ys = {t.get_gid(): t.get_position()[1] for t in fig.axes[0].texts if (t.get_gid() or "").startswith("block:")}
    assert [ys[f"block:{k}"] for k in range(6)] == sorted(ys.values())   # drawn bottom to top in that order


@pytest.mark.parametrize("step", [2, 4, 8])
def test_kv_cache_counts_follow_the_step(step):
    fig = D.kv_cache(step, layers=12, d_model=768)
    assert_fits(fig)
    keys, values = tagged(fig, "key"), tagged(fig, "value")
    assert keys == {j: f"$k_{j + 1}$" for j in range(step)} and values == {j: f"$v_{j + 1}$" for j in range(step)}
    fills = {p.get_gid(): p.get_facecolor() for p in fig.axes[0].patches if p.get_gid()}
    cached = [fills[f"key {j}"] == to_rgba(COLORS["data"]) for j in range(step)]
    assert cached == [True] * (step - 1) + [False] and fills[f"key {step - 1}"] == to_rgba(COLORS["focus"])
    allowed = [fills[f"weight {j}"] == to_rgba(COLORS["focus"]) for j in range(step)]
    assert allowed == list(A.causal_mask(step)[step - 1])
    cost = tagged(fig, "cost")
    assert f"= {step * (step + 1) // 2} so far" in cost[0]
    assert f"computes only $k_{step}, v_{step}$ and reads the {step - 1} stored" in cost[1]
    assert cost[2].endswith(f"= {2 * 12 * step * 768:,} numbers ({4 * 2 * 12 * step * 768:,} bytes in float32)")
    assert "2 × layers × length × $d_{\\mathrm{model}}$" in cost[2]


def test_kv_cache_without_sizes_states_the_formula_only():
    fig = D.kv_cache()
    assert_fits(fig)
    cost = tagged(fig, "cost")
    assert "2 × layers × length" in cost[2] and "=" not in cost[2] and "\n" not in cost[2]


@pytest.mark.parametrize("n", [2, 4, 6])
def test_encoder_decoder_shifts_the_target_and_masks_causally(n):
    fig = D.encoder_decoder(n)
    assert_fits(fig)
    inputs, outputs = tagged(fig, "input"), tagged(fig, "output")
    assert inputs[0] == "<bos>" and outputs[n - 1] == "<eos>"
    assert [inputs[i + 1] for i in range(n - 1)] == [outputs[i] for i in range(n - 1)]  # shifted right by one
    np.testing.assert_array_equal(drawn_mask(fig), A.causal_mask(n))
    assert "K, V" in texts(fig) and any("keys and values: $H$" in s for s in texts(fig))


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_decoder_norm_placement_follows_the_variant(norm_first):
    fig = D.encoder_decoder(norm_first=norm_first)
    assert_fits(fig)
    dec, enc = tagged(fig, "decoder"), tagged(fig, "encoder")
    dec, enc = [dec[k] for k in sorted(dec)], [enc[k] for k in sorted(enc)]
    if norm_first:   # x + f(LN(x)) per sublayer (LN on the queries only in cross-attention), a final LN per stack
        assert dec == ["LayerNorm →\ncausal self-attention", "+", "LayerNorm (queries) →\ncross-attention", "+",
                       "LayerNorm →\nMLP", "+"]
        assert enc == ["LayerNorm →\nself-attention", "+", "LayerNorm →\nMLP", "+"]
        assert texts(fig).count("LayerNorm") == 2 and "add & norm" not in texts(fig)
    else:            # LN(x + f(x)) per sublayer, no final LN
        assert dec == ["causal self-attention", "add & norm", "cross-attention", "add & norm", "MLP", "add & norm"]
        assert enc == ["self-attention\n(all positions)", "add & norm", "MLP", "add & norm"]
        assert "LayerNorm" not in texts(fig) and "+" not in texts(fig)


def test_the_cross_attention_arrow_runs_from_the_encoder_output_into_cross_attention():
    fig = D.encoder_decoder()
    ax = fig.axes[0]
    where = {t.get_text(): t.get_position() for t in ax.texts}
    h, cross = where["encoder output $H$\n$(S, d_{\\mathrm{model}})$"], where["cross-attention"]
    lines = [ln.get_xydata() for ln in ax.lines if len(ln.get_xydata()) == 3]
    path = [p for p in lines if np.isclose(p[0][1], h[1]) and np.isclose(p[-1][1], cross[1])]
    assert len(path) == 1 and path[0][0][0] > h[0] and path[0][-1][0] < cross[0]


def test_bad_input_names_the_argument():
    bad = [
        (lambda: D.decoder_block("yes"), TypeError, "norm_first"),
        (lambda: D.decoder_block(mask_size=1), ValueError, "mask_size"),
        (lambda: D.decoder_block(mask_size=9), ValueError, "mask_size"),
        (lambda: D.decoder_block(mask_size=4.0), TypeError, "mask_size"),
        (lambda: D.kv_cache(1), ValueError, "step"),
        (lambda: D.kv_cache(9), ValueError, "step"),
        (lambda: D.kv_cache("4"), TypeError, "step"),
        (lambda: D.kv_cache(4, layers=0, d_model=8), ValueError, "layers"),
        (lambda: D.kv_cache(4, layers=2, d_model=8.5), TypeError, "d_model"),
        (lambda: D.encoder_decoder(1), ValueError, "length"),
        (lambda: D.encoder_decoder(7), ValueError, "length"),
        (lambda: D.encoder_decoder(True), TypeError, "length"),
        (lambda: D.encoder_decoder(norm_first=1), TypeError, "norm_first"),
    ]
    for call, error, name in bad:
        with pytest.raises(error, match=rf"\b{name}\b"):
            call()
