"""Diagrams of the GRU cell and of stacked bidirectional networks (troikadl.figures.recurrent)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from troikadl import neuron as tk_neuron  # noqa: E402
from troikadl import rnn  # noqa: E402
from troikadl.figures import recurrent  # noqa: E402
from figure_checks import assert_fits, texts  # noqa: E402


@pytest.mark.parametrize("draw", [recurrent.gru_cell, lambda: recurrent.stacked_bidirectional(),
                                  lambda: recurrent.stacked_bidirectional(1, 2),
                                  lambda: recurrent.stacked_bidirectional(3, 5)],
                         ids=["gru", "bi-2x4", "bi-1x2", "bi-3x5"])
def test_fits_the_column_legibly(draw):
    assert_fits(draw())


def test_gru_gate_order_is_the_order_the_cell_computes():
    """The probe's order, used to split random weights, reproduces the chapter's equations step by step."""
    order = recurrent.gru_gate_order()
    assert order == ["r", "z", "n"]
    H, D = 3, 2
    w = rnn.Weights.random(D, H, gates=3, seed=1)
    rng = np.random.default_rng(0)
    x, h = rng.normal(size=(2, D)), rng.normal(size=(2, H))
    block = {k: slice(j * H, (j + 1) * H) for j, k in enumerate(order)}
    gi = lambda k: x @ w.W_ih[block[k]].T + w.b[block[k]]  # noqa: E731
    gh = lambda k: h @ w.W_hh[block[k]].T  # noqa: E731
    sig = tk_neuron.sigmoid
    r, z = sig(gi("r") + gh("r")), sig(gi("z") + gh("z"))
    n = np.tanh(gi("n") + r * (gh("n") + w.b_hn))
    np.testing.assert_allclose(rnn.gru_cell(x, h, w), (1 - z) * n + z * h, atol=1e-12)


def test_gru_cell_draws_the_gates_both_conventions_and_the_stacking_orders():
    labels = texts(recurrent.gru_cell())
    for text in ("$h_{t-1}$", "$x_t$", "$h_t$", "$z_t$", "$r_t$", "$n_t$", "$1 - z_t$", "update", "reset",
                 "candidate", "PyTorch; Keras reset_after=True", "Keras reset_after=False",
                 r"state:  $h_t = z_t \odot h_{t-1} + (1 - z_t) \odot n_t$"):
        assert text in labels, text
    assert labels.count(r"$\sigma$") == 2 and labels.count("tanh") == 1  # two gates and the candidate
    assert sum(r"r_t \odot (W_{hn} h_{t-1} + b_{hn})" in t for t in labels) == 1    # reset after the product
    assert sum(r"W_{hn} (r_t \odot h_{t-1})" in t for t in labels) == 1             # reset before it
    strip = [t for t in labels if t in ("$r_t$", "$z_t$", "$n_t$")]
    assert strip[-3:] == [f"${k}_t$" for k in recurrent.gru_gate_order()]
    assert "in the order r, z, n;  Keras's kernels: z, r, n" in labels


def test_gru_keras_order_in_the_figure_is_the_weight_maps():
    """The Keras order written in the figure is the order rnn.to_keras puts the gates in its kernel."""
    from troikadl.rnn.frameworks import _keras_arrays

    H = 2
    w = rnn.Weights(np.repeat(np.arange(3.0), H)[:, None], np.zeros((3 * H, H)), np.zeros(3 * H))
    kernel = _keras_arrays(w)[0]  # (1, 3H): block j holds the index of our gate it came from
    order = recurrent.gru_gate_order()
    keras = [order[int(kernel[0, j * H])] for j in range(3)]
    assert f"Keras's kernels: {', '.join(keras)}" in " ".join(texts(recurrent.gru_cell()))


@pytest.mark.parametrize("layers, steps", [(1, 2), (2, 4), (3, 5)])
def test_stacked_bidirectional_draws_two_cells_per_step_and_layer(layers, steps):
    labels = texts(recurrent.stacked_bidirectional(layers, steps))
    assert labels.count("→") == 2 * layers * steps and labels.count("←") == 2 * layers * steps  # cells, concat
    assert [t for t in labels if t.startswith("$x_")] == [f"$x_{t + 1}$" for t in range(steps)]
    assert [t for t in labels if t.startswith("layer")] == [f"layer {i + 1}: [→ ; ←]" for i in range(layers)]
    assert labels.count("0") == 2 * layers  # each direction of each layer starts from a zero state


@pytest.mark.parametrize("call, error, name", [
    (lambda: recurrent.stacked_bidirectional(0), ValueError, "layers"),
    (lambda: recurrent.stacked_bidirectional(4), ValueError, "layers"),
    (lambda: recurrent.stacked_bidirectional(2.0), TypeError, "layers"),
    (lambda: recurrent.stacked_bidirectional(2, 1), ValueError, "steps"),
    (lambda: recurrent.stacked_bidirectional(2, 6), ValueError, "steps"),
    (lambda: recurrent.stacked_bidirectional(2, "4"), TypeError, "steps"),
])
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
