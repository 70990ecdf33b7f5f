"""The fully connected network diagrams (troikadl.figures.layers) against what they depict."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from troikadl.figures import layers  # noqa: E402
from troikadl.figures.style import MAX_WIDTH  # noqa: E402


def _gids(fig, prefix):
    ax = fig.axes[0]
    return [a.get_gid() for a in [*ax.patches, *ax.lines] if (a.get_gid() or "").startswith(prefix)]


@pytest.mark.parametrize("sizes", [[4, 3], [2, 2, 1], [4, 6, 6, 3], [8, 8, 8, 8, 8, 8]])
def test_every_unit_and_connection_is_drawn_within_the_width(sizes):
    fig = layers.dense_network(sizes, output="softmax")
    assert fig.get_size_inches()[0] <= MAX_WIDTH
    assert len(_gids(fig, "unit-")) == sum(sizes)
    assert len(_gids(fig, "live")) == sum(a * b for a, b in zip(sizes, sizes[1:]))
    plt.close(fig)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_dropped_units_are_those_the_package_dropout_drops_with_the_same_generator(seed):
    from troikadl.regularization import dropout

    sizes, p = [4, 6, 6, 3], 0.5
    gen = torch.Generator().manual_seed(seed)
    expected = [dropout(torch.ones(n), p, training=True, generator=gen).numpy() != 0 for n in sizes[1:-1]]
    masks = layers.dropout_mask(sizes, p, seed)
    assert masks[0].all() and masks[-1].all()
    for got, want in zip(masks[1:-1], expected):
        np.testing.assert_array_equal(got, want)
    fig = layers.dense_network(sizes, dropout=p, seed=seed)
    dropped = {g for g in _gids(fig, "unit-") if g.endswith("dropped")}
    assert dropped == {f"unit-{l}-{i}-dropped" for l, m in enumerate(masks) for i in np.flatnonzero(~m)}
    cut = len(_gids(fig, "cut"))
    live = sum(int(a.sum() * b.sum()) for a, b in zip(masks, masks[1:]))
    assert len(_gids(fig, "live")) == live and cut == sum(a * b for a, b in zip(sizes, sizes[1:])) - live
    plt.close(fig)


def test_half_of_many_hidden_units_are_dropped_at_p_one_half():
    masks = [m for s in range(200) for m in layers.dropout_mask([2, 8, 2], 0.5, s)[1:-1]]
    frac = 1 - np.mean(np.concatenate(masks))
    assert abs(frac - 0.5) < 4 * np.sqrt(0.25 / 1600)


@pytest.mark.parametrize("kwargs, word", [({"sizes": [4]}, "sizes"), ({"sizes": "43"}, "sizes"),
                                          ({"sizes": [4, 0]}, "sizes"), ({"sizes": [4, 3], "output": "tanh"}, "output"),
                                          ({"sizes": [4, 3], "dropout": 1.5}, "dropout")])
def test_bad_input_names_the_argument(kwargs, word):
    with pytest.raises((ValueError, TypeError), match=word):
        layers.dense_network(**kwargs)
