"""The diagrams of chapter 12 (troikadl.figures.scale): they fit the book's column; the sharding diagram splits
exactly what each strategy splits (1/ranks of it per rank, each rank a different piece) and its bytes per
parameter follow; the training-FLOPs diagram's three matmuls are the ones PyTorch's autograd runs, with the
FLOP counts PyTorch's own counter measures; bad input is refused naming the argument."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from troikadl.figures import scale as S  # noqa: E402
from troikadl.figures.style import COLORS  # noqa: E402
from figure_checks import assert_fits  # noqa: E402

KINDS = ("parameters", "gradients", "optimizer")
ROLES = {"parameters": "param", "gradients": "out", "optimizer": "op"}
# What each strategy splits across the ranks (from the ZeRO paper, Rajbhandari et al. 2020, and PyTorch FSDP).
SPLIT = {"ddp": set(), "zero1": {"optimizer"}, "fsdp": {"parameters", "gradients", "optimizer"}}


def tagged(fig, prefix):
    """{key: text} of the texts whose gid is ``prefix:key``."""
    found = {}
    for t in fig.axes[0].texts:
        kind, _, key = (t.get_gid() or "").partition(":")
        if kind == prefix:
            found[key] = t.get_text()
    return found


def bars(fig):
    """{(what, strategy, rank, kind): patch} of the memory bars ("slot": the whole tensor, "held": the rank's)."""
    found = {}
    for p in fig.axes[0].patches:
        parts = (p.get_gid() or "").split()
        if len(parts) == 4 and parts[0] in ("slot", "held"):
            found[(parts[0], parts[1], int(parts[2]), parts[3])] = p
    return found


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_each_rank_holds_what_its_strategy_leaves_whole_and_one_distinct_piece_of_what_it_splits(ranks):
    fig = S.sharding(ranks)
    assert_fits(fig)
    b = bars(fig)
    assert len(b) == 2 * len(SPLIT) * ranks * len(KINDS)
    for key, split in SPLIT.items():
        for kind in KINDS:
            want = 1 / ranks if kind in split else 1.0
            starts = []
            for k in range(ranks):
                slot, held = b[("slot", key, k, kind)], b[("held", key, k, kind)]
                assert held.get_width() == pytest.approx(want * slot.get_width()), (key, kind, k)
                assert held.get_height() == pytest.approx(slot.get_height()) and held.get_y() == slot.get_y()
                assert slot.get_x() <= held.get_x() + 1e-9 and held.get_x() + held.get_width() <= \
                    slot.get_x() + slot.get_width() + 1e-9
                assert to_rgba(held.get_facecolor()) == to_rgba(COLORS[ROLES[kind]])
                assert slot.get_linestyle() != "-"                     # the whole tensor: dashed
                starts.append((held.get_x() - slot.get_x()) / slot.get_width())
            # the pieces of a split tensor are the ranks' distinct 1/ranks-th parts, together the whole
            want_starts = [k / ranks for k in range(ranks)] if kind in split else [0.0] * ranks
            assert starts == pytest.approx(want_starts), (key, kind)
    # the bars' heights are the bytes per parameter: Adam's two moments are twice the weight
    h = {kind: b[("slot", "ddp", 0, kind)].get_height() for kind in KINDS}
    assert h["gradients"] == pytest.approx(h["parameters"]) and h["optimizer"] == pytest.approx(2 * h["parameters"])
    assert tagged(fig, "rank") == {f"{key}:{k}": f"GPU {k}" for key in SPLIT for k in range(ranks)}


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_the_bytes_per_parameter_follow_the_ranks(ranks):
    labels = tagged(S.sharding(ranks), "bytes")
    want = {"ddp": 4 + 4 + 8, "zero1": 4 + 4 + 8 / ranks, "fsdp": (4 + 4 + 8) / ranks}
    for key, value in want.items():
        drawn = float(re.fullmatch(r".* = ([\d.]+) B", labels[key]).group(1))
        assert drawn == pytest.approx(value, rel=1e-3), (key, labels[key])
    if ranks == 2:
        assert labels == {"ddp": "4 + 4 + 8 = 16 B", "zero1": "4 + 4 + 8/2 = 12 B", "fsdp": "(4 + 4 + 8)/2 = 8 B"}
    if ranks == 4:
        assert labels["zero1"] == "4 + 4 + 8/4 = 10 B" and labels["fsdp"] == "(4 + 4 + 8)/4 = 4 B"


def test_each_strategy_names_its_collectives():
    fig = S.sharding(2)
    comm = {k: v.replace("\n", " ") for k, v in tagged(fig, "comm").items()}
    assert "gradients all-reduced" in comm["ddp"] and "gathered" not in comm["ddp"]
    assert "gradients all-reduced" in comm["zero1"] and "parameters all-gathered" in comm["zero1"]
    assert "its 1/2" in comm["zero1"] and "its 1/2" in comm["fsdp"]
    assert "parameters all-gathered layer by layer" in comm["fsdp"] and "gradients reduce-scattered" in comm["fsdp"]
    assert "all-reduced" not in comm["fsdp"]
    assert tagged(fig, "strategy") == {"ddp": "DDP", "zero1": "ZeRO-1", "fsdp": "FSDP / ZeRO-3"}
    assert "its 1/4" in tagged(S.sharding(4), "comm")["zero1"].replace("\n", " ")


SHAPE = re.compile(r"\$(.+)\$  \$\((.+) \\times (.+)\)\$")


def drawn_matmuls(fig, sizes):
    """{name: (operand shapes, result shape, FLOPs)} read back from the drawing, with sizes for its symbols."""
    found = {}
    texts = tagged(fig, "operand") | {f"{k}:r": v for k, v in tagged(fig, "result").items()}
    flops = tagged(fig, "flops")
    for name in ("forward", "grad_input", "grad_weight"):
        shapes = []
        for key in (f"{name}:0", f"{name}:1", f"{name}:r"):
            sym, a, b = SHAPE.fullmatch(texts[key]).groups()
            shapes.append((sym, sizes[a], sizes[b]))
        product = re.search(r"= 2 × ([\d,]+) × ([\d,]+) × ([\d,]+)\n", flops[name]).groups()
        count = 2
        for n in product:
            count *= int(n.replace(",", ""))
        found[name] = (shapes, count, flops[name])
    return found


@pytest.mark.parametrize("n_in, n_out, tokens", [(3, 5, 7), (768, 3072, 1024), (1, 1, 1)])
def test_the_three_matmuls_are_autograd_s_and_cost_what_torch_counts(n_in, n_out, tokens):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    fig = S.training_flops(n_in, n_out, tokens)
    assert_fits(fig)
    sizes = {"T": tokens, "n_{\\mathrm{in}}": n_in, "n_{\\mathrm{out}}": n_out}
    drawn = drawn_matmuls(fig, sizes)
    # the drawn shapes chain: (a x b)(b x c) = (a x c)
    for name, (((_, a, b), (_, b2, c), (_, ra, rc)), _, _) in drawn.items():
        assert b == b2 and (ra, rc) == (a, c), name
    # PyTorch on small sizes: the same tensors, the same formulas, the same FLOP counts (forward, then backward)
    small = dict(n_in=3, n_out=5, tokens=7) if n_in * n_out * tokens > 10**5 else dict(n_in=n_in, n_out=n_out,
                                                                                        tokens=tokens)
    d = drawn_matmuls(S.training_flops(**small), {"T": small["tokens"], "n_{\\mathrm{in}}": small["n_in"],
                                                  "n_{\\mathrm{out}}": small["n_out"]})
    g = torch.Generator().manual_seed(0)
    X = torch.randn(small["tokens"], small["n_in"], generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(small["n_in"], small["n_out"], generator=g, dtype=torch.float64, requires_grad=True)
    dY = torch.randn(small["tokens"], small["n_out"], generator=g, dtype=torch.float64)
    with FlopCounterMode(display=False) as forward:
        Y = X @ W
    with FlopCounterMode(display=False) as backward:
        Y.backward(dY)
    assert tuple(Y.shape) == d["forward"][0][2][1:]
    assert tuple(X.grad.shape) == d["grad_input"][0][2][1:] and tuple(W.grad.shape) == d["grad_weight"][0][2][1:]
    torch.testing.assert_close(X.grad, dY @ W.T)           # dX = dY W^T, as drawn
    torch.testing.assert_close(W.grad, X.T.detach() @ dY)  # dW = X^T dY, as drawn
    assert forward.get_total_flops() == d["forward"][1]
    assert d["forward"][2].split("\n")[-1].startswith(f"= {forward.get_total_flops()} FLOP ")  # under 1000 here
    assert backward.get_total_flops() == d["grad_input"][1] + d["grad_weight"][1]
    # 2 per weight per token each, 6 in all
    per = n_in * n_out * tokens
    assert [v[1] for v in drawn.values()] == [2 * per] * 3
    assert all("(2 per weight per token)" in v[2] for v in drawn.values())
    total = tagged(fig, "total")[""]
    assert "2 forward + 4 backward = 6 FLOPs per weight per token" in total
    assert f"6 × {n_in * n_out:,} weights × {tokens:,} tokens" in total
    if (n_in, n_out, tokens) == (768, 3072, 1024):
        assert total.endswith("= 14.5 GFLOP") and drawn["forward"][2].endswith("= 4.83 GFLOP  (2 per weight per token)")


def test_the_matmuls_are_drawn_as_the_chapter_writes_them():
    fig = S.training_flops()
    assert tagged(fig, "matmul") == {"forward": "$Y = X\\,W$", "grad_input": "$dX = dY\\,W^{\\top}$",
                                     "grad_weight": "$dW = X^{\\top} dY$"}
    assert "C \\approx 6\\,N\\,D" in tagged(fig, "rule")[""]


def test_bad_input_names_the_argument():
    bad = [
        (lambda: S.sharding(0), ValueError, "ranks"),
        (lambda: S.sharding(5), ValueError, "ranks"),
        (lambda: S.sharding(2.0), TypeError, "ranks"),
        (lambda: S.sharding("2"), TypeError, "ranks"),
        (lambda: S.sharding(True), TypeError, "ranks"),
        (lambda: S.training_flops(0), ValueError, "n_in"),
        (lambda: S.training_flops(4, -1), ValueError, "n_out"),
        (lambda: S.training_flops(4, 4, 10**7), ValueError, "tokens"),
        (lambda: S.training_flops(4, 4, 2.5), TypeError, "tokens"),
        (lambda: S.training_flops(None), TypeError, "n_in"),
    ]
    for call, error, name in bad:
        with pytest.raises(error, match=rf"\b{name}\b"):
            call()
