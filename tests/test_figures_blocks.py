"""The building-block diagrams (troikadl.figures.blocks) against the modules and counts they depict."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from torch import nn  # noqa: E402

from troikadl.architectures import conv_params, separable_params  # noqa: E402
from troikadl.figures import blocks  # noqa: E402
from troikadl.figures.style import MAX_WIDTH  # noqa: E402
from troikadl.resnet import ResidualBlock  # noqa: E402


def _gids(fig, prefix):
    ax = fig.axes[0]
    return [a.get_gid() for a in [*ax.patches, *ax.lines] if (a.get_gid() or "").startswith(prefix)]


def _text(fig, gid):
    """The text of the one text artist tagged ``gid``."""
    found = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == gid]
    assert len(found) == 1, (gid, found)
    return found[0]


def _draw(fn, *args):
    fig = fn(*args)
    assert fig.get_size_inches()[0] <= MAX_WIDTH
    fig.canvas.draw()                       # lay out the text too: a broken mathtext label raises here
    return fig


def _conv_label(conv):
    kh, kw = conv.kernel_size
    return f"{kh}×{kw} conv\n{conv.in_channels}→{conv.out_channels}\nstride {conv.stride[0]}"


@pytest.mark.parametrize("make", [lambda: ResidualBlock(16), lambda: ResidualBlock(8, 16, stride=2),
                                  lambda: ResidualBlock(8, 16, stride=2, batch_norm=False),
                                  lambda: ResidualBlock(16, batch_norm=False),
                                  lambda: ResidualBlock(4, projection=True),
                                  lambda: ResidualBlock(256, 512, stride=2)])
def test_the_residual_block_is_drawn_from_the_module(make):
    block = make()
    fig = _draw(blocks.residual_block, block)
    assert _text(fig, "conv1") == _conv_label(block.conv1)
    assert _text(fig, "conv2") == _conv_label(block.conv2)
    for gid in ("input", "relu1", "add", "relu2", "output"):
        assert len(_gids(fig, gid)) == 1, gid
    bn = sorted(g for g in _gids(fig, "bn"))
    assert bn == (["bn1", "bn2"] if block.batch_norm else [])
    assert _gids(fig, "shortcut").count("shortcut") == 1            # the dotted path
    label = _text(fig, "shortcut-label")
    if isinstance(block.shortcut, nn.Identity):
        assert label == "shortcut: identity $x$"
        assert not _gids(fig, "shortcut-")
    else:
        proj = block.shortcut[0]
        assert _text(fig, "shortcut-conv") == _conv_label(proj)
        assert label == f"shortcut: projection (1×1 conv, stride {proj.stride[0]}{', BN' if block.batch_norm else ''})"
        assert _gids(fig, "shortcut-") == ["shortcut-conv"] + ["shortcut-bn"] * block.batch_norm
    plt.close(fig)


def test_the_default_block_is_an_identity_block_of_16_channels():
    fig = _draw(blocks.residual_block)
    assert _text(fig, "conv1") == "3×3 conv\n16→16\nstride 1"
    assert _text(fig, "shortcut-label") == "shortcut: identity $x$"
    plt.close(fig)


def _evaluate(expression):
    """``"3·3·3·4 + 4"`` -> 112."""
    total = 0
    for term in expression.split(" + "):
        product = 1
        for factor in term.split("·"):
            product *= int(factor)
        total += product
    return total


@pytest.mark.parametrize("c_in, c_out, k", [(3, 4, 3), (1, 1, 1), (8, 8, 7), (4, 6, 5), (2, 8, 3), (8, 1, 1)])
def test_the_separable_diagram_counts_what_the_package_counts(c_in, c_out, k):
    fig = _draw(blocks.depthwise_separable, c_in, c_out, k)
    for gid, want in (("std-params", conv_params(c_in, c_out, k)), ("sep-params", separable_params(c_in, c_out, k))):
        text = _text(fig, gid)
        assert text.endswith(f" = {want} parameters")
        assert _evaluate(text.split(" = ")[0]) == want           # the written-out product is that count
    assert len(_gids(fig, "std-kernel ")) == c_out
    assert len(_gids(fig, "dw-kernel ")) == c_in
    assert len(_gids(fig, "pw-kernel ")) == c_out
    assert len(_gids(fig, "std-kernel-layer")) == c_out * (c_in - 1)   # each standard kernel is k x k x c_in
    assert len(_gids(fig, "dw-kernel-layer")) == 0                     # each depthwise one is k x k x 1
    assert len(_gids(fig, "pw-kernel-layer")) == c_out * (c_in - 1)
    stacks = (("std-in ", c_in), ("std-out ", c_out), ("sep-in ", c_in), ("sep-mid ", c_in), ("sep-out ", c_out))
    for stack, n in stacks:
        assert len(_gids(fig, stack)) == n, stack
    plt.close(fig)


def test_each_depthwise_kernel_has_its_channel_colour():
    fig = _draw(blocks.depthwise_separable, 5, 2, 3)
    fill = {p.get_gid(): p.get_facecolor() for p in fig.axes[0].patches if p.get_gid()}
    for i in range(5):
        assert fill[f"dw-kernel {i}"] == fill[f"sep-in {i}"] == fill[f"sep-mid {i}"]
    assert len({fill[f"sep-in {i}"] for i in range(5)}) == 5
    plt.close(fig)


@pytest.mark.parametrize("kwargs, error, word", [
    ({"block": "resnet"}, TypeError, "block"), ({"block": 3}, TypeError, "block"),
])
def test_residual_block_bad_input_names_the_argument(kwargs, error, word):
    with pytest.raises(error, match=word):
        blocks.residual_block(**kwargs)


@pytest.mark.parametrize("kwargs, error, word", [
    ({"c_in": 0}, ValueError, "c_in"), ({"c_in": 9}, ValueError, "c_in"), ({"c_in": 2.0}, TypeError, "c_in"),
    ({"c_out": 0}, ValueError, "c_out"), ({"c_out": 9}, ValueError, "c_out"), ({"c_out": "4"}, TypeError, "c_out"),
    ({"k": 2}, ValueError, "k"), ({"k": 9}, ValueError, "k"), ({"k": 0}, ValueError, "k"),
    ({"k": True}, TypeError, "k"),
])
def test_depthwise_separable_bad_input_names_the_argument(kwargs, error, word):
    with pytest.raises(error, match=rf"\b{word}\b"):
        blocks.depthwise_separable(**kwargs)
