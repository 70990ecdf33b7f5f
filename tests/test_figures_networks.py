"""Diagrams of neurons and recurrent cells (troikadl.figures.networks): drawn from the package's own functions."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from troikadl import neuron as tk_neuron  # noqa: E402
from troikadl import rnn  # noqa: E402
from troikadl.figures import networks, style  # noqa: E402
from figure_checks import assert_fits, texts  # noqa: E402


def by_gid(fig, gid):
    found = [a for ax in fig.axes for a in list(ax.texts) + list(ax.patches) + list(ax.lines) if a.get_gid() == gid]
    return found


ALL = [lambda: networks.neuron(), lambda: networks.neuron(6, activation="sigmoid"),
       lambda: networks.perceptron_update(), lambda: networks.perceptron_update((1, 1), (1, 2)),
       lambda: networks.rnn_unrolled(), lambda: networks.rnn_unrolled(2), lambda: networks.rnn_unrolled(5),
       lambda: networks.lstm_cell()]


@pytest.mark.parametrize("draw", ALL, ids=["neuron", "neuron6", "perceptron", "perceptron_correct", "rnn4", "rnn2",
                                           "rnn5", "lstm"])
def test_every_diagram_fits_the_column_and_its_lettering_is_clear(draw):
    fig = draw()
    width, height = fig.get_size_inches()
    assert width <= style.MAX_WIDTH and 1 <= height <= 6
    assert_fits(fig)


def test_neuron_shows_the_inputs_weights_and_the_chapters_notation():
    labels = texts(networks.neuron(3))
    for k in (1, 2, 3):
        assert f"$x_{{{k}}}$" in labels and f"$w_{{{k}}}$" in labels
    assert r"$z = \mathbf{w}^\top\mathbf{x} + b$" in labels and "$a = f(z)$" in labels and "$b$" in labels
    many = texts(networks.neuron(7, activation="tanh"))
    assert "$x_{7}$" in many and "$w_{7}$" in many and "$x_{3}$" not in many and r"$\vdots$" in many
    assert "tanh" in many


def arrow_ends(fig, gid):
    (a,) = by_gid(fig, gid)
    return np.asarray(a.xyann, dtype=float), np.asarray(a.xy, dtype=float)


@pytest.mark.parametrize("w, x, y, b, lr", [((2.0, 0.5), (-0.5, 1.5), 1, 0.0, 1.0),
                                            ((1.0, -2.0), (2.0, 0.5), -1, 0.7, 0.5),
                                            ((0.3, 0.4), (-1.0, -1.0), 1, 0.2, 0.25)])
def test_perceptron_update_draws_the_vectors_the_rule_computes(w, x, y, b, lr):
    fig = networks.perceptron_update(w, x, y=y, b=b, lr=lr)
    w_new, b_new = tk_neuron.perceptron_update(np.array(w), b, np.array(x), y, lr)
    assert y * (np.dot(w, x) + b) <= 0                         # these examples are misclassified
    np.testing.assert_allclose(w_new, np.add(w, lr * y * np.array(x)))
    start, end = arrow_ends(fig, "w")
    np.testing.assert_allclose(start, 0)
    np.testing.assert_allclose(end, w)
    start, end = arrow_ends(fig, "w_new")
    np.testing.assert_allclose(start, 0)
    np.testing.assert_allclose(end, np.add(w, lr * y * np.array(x)))
    start, end = arrow_ends(fig, "step")                       # the step eta y x, from w to w'
    np.testing.assert_allclose(start, w)
    np.testing.assert_allclose(end - start, lr * y * np.array(x))
    xs = by_gid(fig, "x")                                      # x, in both panels
    assert len(xs) == 2 and all(np.allclose(a.xy, x) and np.allclose(a.xyann, 0) for a in xs)
    for gid, (ww, bb) in (("boundary", (w, b)), ("boundary_old", (w, b)), ("boundary_new", (w_new, b_new))):
        (line,) = by_gid(fig, gid)                             # the line w . p + b = 0
        pts = np.c_[line.get_xdata(), line.get_ydata()]
        np.testing.assert_allclose(pts @ np.asarray(ww) + bb, 0, atol=1e-9)
    assert any(f"= {b_new:.3g}$" in t for t in texts(fig))


def test_perceptron_update_default_shows_a_mistake_that_one_step_corrects():
    """Chapter 1's prose and alt text say so of the defaults (the chapter passes the same values)."""
    w, x = np.array([2.0, 0.5]), np.array([-0.5, 1.5])
    w_new, b_new = tk_neuron.perceptron_update(w, 0.0, x, 1, 1.0)
    assert w @ x + 0.0 <= 0 < w_new @ x + b_new
    fig = networks.perceptron_update()
    np.testing.assert_allclose(arrow_ends(fig, "w")[1], w)
    np.testing.assert_allclose(arrow_ends(fig, "w_new")[1], w_new)


def test_perceptron_update_of_a_correct_example_changes_nothing():
    fig = networks.perceptron_update((1.0, 1.0), (1.0, 2.0), y=1)
    assert not by_gid(fig, "step") and not by_gid(fig, "boundary_old")
    np.testing.assert_allclose(arrow_ends(fig, "w_new")[1], (1.0, 1.0))
    assert any("classified correctly" in t for t in texts(fig))


@pytest.mark.parametrize("steps", [2, 4, 5])
def test_rnn_unrolled_has_one_jacobian_per_step_on_the_backward_path(steps):
    fig = networks.rnn_unrolled(steps)
    labels = texts(fig)
    assert [f"$h_{{{k}}}$" for k in range(steps + 1)] == [t for t in labels if t.startswith("$h_{")]
    assert [f"$x_{{{k}}}$" for k in range(1, steps + 1)] == [t for t in labels if t.startswith("$x_{")]
    jacobians = [t for t in labels if t.startswith(r"$\partial h_")]
    assert jacobians == [f"$\\partial h_{{{k}}}/\\partial h_{{{k - 1}}}$" for k in range(2, steps + 1)]
    assert labels.count("$W_{hh}$") == steps and labels.count("$W_{ih}$") == steps
    assert f"$\\partial L/\\partial h_{{{steps}}}$" in labels
    (ax,) = fig.axes
    backward = [p for p in ax.patches if (p.get_gid() or "").startswith("backward")]
    assert len(backward) == steps + 1                          # L -> readout -> h_T, then T - 1 Jacobians
    for p in backward:
        assert matplotlib.colors.to_hex(p.get_edgecolor()) == style.ARROWS["backward"]["color"]
        assert p.get_linestyle() == "--"
    for k in range(2, steps + 1):                              # each backward arrow runs right to left
        (fwd,), (bwd,) = by_gid(fig, f"forward h{k - 1}->h{k}"), by_gid(fig, f"backward h{k}->h{k - 1}")
        (a0, _), (a1, _) = fwd._posA_posB
        (b0, _), (b1, _) = bwd._posA_posB
        assert a0 < a1 and b0 > b1 and b0 == pytest.approx(a1) and b1 == pytest.approx(a0)


def test_lstm_gate_order_is_the_order_the_cell_computes():
    order = networks.lstm_gate_order()
    assert order == ["i", "f", "g", "o"]
    # split random weights in that order and compute one step by the chapter's equations
    rng = np.random.default_rng(0)
    H, D = 3, 2
    w = rnn.Weights.random(D, H, gates=4, seed=1)
    x, h, c = rng.normal(size=(2, D)), rng.normal(size=(2, H)), rng.normal(size=(2, H))
    z = x @ w.W_ih.T + h @ w.W_hh.T + w.b
    gate = {k: z[:, j * H:(j + 1) * H] for j, k in enumerate(order)}
    sig = tk_neuron.sigmoid
    c_new = sig(gate["f"]) * c + sig(gate["i"]) * np.tanh(gate["g"])
    h_new = sig(gate["o"]) * np.tanh(c_new)
    h_cell, c_cell = rnn.lstm_cell(x, h, c, w)
    np.testing.assert_allclose(c_cell, c_new, atol=1e-12)
    np.testing.assert_allclose(h_cell, h_new, atol=1e-12)


def test_lstm_cell_draws_the_gates_and_the_stacking_order():
    fig = networks.lstm_cell()
    labels = texts(fig)
    strip = [t for t in labels if t in ("$i_t$", "$f_t$", "$g_t$", "$o_t$")]
    # each gate's output is labelled on its arrow, then the strip lists the stacked rows in the cell's order
    assert strip[-4:] == [f"${k}_t$" for k in networks.lstm_gate_order()]
    for text in ("$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$x_t$", "$h_t$", r"$h_t = o_t \odot \tanh(c_t)$",
                 "forget", "input", "candidate", "output"):
        assert text in labels, text
    assert r"memory:  $c_t = f_t \odot c_{t-1} + i_t \odot g_t$" in labels
    assert labels.count(r"$\sigma$") == 3 and labels.count("tanh") == 2   # three gates and g; tanh(c)


@pytest.mark.parametrize("call, error, name", [
    (lambda: networks.neuron(0), ValueError, "n"),
    (lambda: networks.neuron(2.5), TypeError, "n"),
    (lambda: networks.neuron(3, activation="softmax"), ValueError, "activation"),
    (lambda: networks.neuron(3, activation=1), TypeError, "activation"),
    (lambda: networks.perceptron_update((1, 2, 3), (1, 2)), ValueError, "w"),
    (lambda: networks.perceptron_update((1, 2), "ab"), TypeError, "x"),
    (lambda: networks.perceptron_update((0, 0), (1, 2)), ValueError, "w"),
    (lambda: networks.perceptron_update(y=0), ValueError, "y"),
    (lambda: networks.perceptron_update(lr=0), ValueError, "lr"),
    (lambda: networks.perceptron_update(lr="1"), TypeError, "lr"),
    (lambda: networks.perceptron_update(b=float("nan")), ValueError, "b"),
    (lambda: networks.rnn_unrolled(1), ValueError, "steps"),
    (lambda: networks.rnn_unrolled(6), ValueError, "steps"),
    (lambda: networks.rnn_unrolled(3.0), TypeError, "steps"),
])
def test_bad_arguments_raise_naming_the_argument(call, error, name):
    with pytest.raises(error, match=rf"^{name}\b"):
        call()
