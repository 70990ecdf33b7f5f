"""Exercise 5.3 (``rnn.gru_cell``): its reference and its wrong answers are what they claim to be.

The public cases compare with ``torch.nn.GRUCell``; here the wrong answer named after Keras's convention is
checked equal to Keras's ``GRU(reset_after=False)``, and PyTorch's convention to ``GRU(reset_after=True)``,
so that the feedback a learner gets names the right mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

import troikadl as tk
from troikadl.grading.rnn import _gru

TOL = 1e-12  # float64 throughout


def _args(seed=0, n=3, D=3, H=4):
    r = np.random.default_rng(seed)
    return (r.normal(size=(n, D)), r.normal(size=(n, H)), r.normal(size=(3 * H, D)), r.normal(size=(3 * H, H)),
            r.normal(size=3 * H), r.normal(size=3 * H))


def test_reference_passes_and_each_wrong_answer_differs_from_it():
    tk.grading.check("rnn.gru_cell", lambda *a: _gru(*a))
    args = _args(1)
    for name, wrong in tk.grading.EXERCISES["rnn.gru_cell"].wrong_answers.items():
        assert np.abs(wrong(*args) - _gru(*args)).max() > 1e-3, name


def test_conventions_agree_only_from_a_zero_state_without_recurrent_bias():
    x, h, W_ih, W_hh, b_ih, b_hh = _args(2)
    zero = np.zeros_like(h)
    b_hh_no_n = b_hh.copy()
    b_hh_no_n[2 * h.shape[1]:] = 0.0
    same = [_gru(x, zero, W_ih, W_hh, b_ih, b_hh_no_n, v) for v in ("", "reset before")]
    assert np.abs(same[0] - same[1]).max() <= TOL
    differ = [_gru(x, zero, W_ih, W_hh, b_ih, b_hh, v) for v in ("", "reset before")]
    assert np.abs(differ[0] - differ[1]).max() > 1e-3


@pytest.mark.tf
@pytest.mark.parametrize("reset_after", [False, True])
def test_conventions_equal_keras_gru(reset_after):
    tk.import_tf()
    import keras

    x, h, W_ih, W_hh, b_ih, b_hh = args = _args(3)
    H = h.shape[1]
    zrn = lambda M: np.concatenate([M[H:2 * H], M[:H], M[2 * H:]])  # noqa: E731  (Keras stacks z, r, n)
    layer = keras.layers.GRU(H, reset_after=reset_after, dtype="float64")
    layer.build((None, None, x.shape[1]))
    bias = np.stack([zrn(b_ih), zrn(b_hh)]) if reset_after else zrn(b_ih + b_hh)
    layer.set_weights([zrn(W_ih).T, zrn(W_hh).T, bias])
    theirs = layer(x[:, None, :], initial_state=[h]).numpy()
    ours = _gru(*args, variant="" if reset_after else "reset before")
    assert np.abs(ours - theirs).max() <= TOL
