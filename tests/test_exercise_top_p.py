"""Exercise 6.3 (``attention.top_p_filter``): its reference and its wrong answers are what they claim to be.

The expected values come from :func:`troikadl.transformer.top_p_filter`, checked equal to Hugging Face's
``TopPLogitsWarper`` in tests/test_generation.py; here each registered wrong answer is checked to make the
mistake it is named after, and the correct NumPy version the wrong answers are built from to equal Hugging Face.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

import troikadl as tk
from troikadl.grading.attention import _top_p_reference, _top_p_wrong

EX = "attention.top_p_filter"


def test_package_and_reference_pass(capsys):
    tk.grading.check(EX, lambda z, p: tk.transformer.top_p_filter(torch.as_tensor(z), p).numpy())
    tk.grading.check(EX, _top_p_reference)
    assert capsys.readouterr().out.count("\u2713") == 2


@pytest.mark.parametrize("seed", range(6))
def test_the_numpy_version_equals_hugging_face(seed):
    r = np.random.default_rng(seed)
    z, p = r.normal(size=9) * 2, float(r.uniform())
    theirs = TopPLogitsWarper(p)(None, torch.as_tensor(z)[None])[0].numpy()
    assert np.array_equal(_top_p_wrong(z, p, ""), theirs)


def _kept(z):
    return np.flatnonzero(np.isfinite(z)).tolist()


def test_each_wrong_answer_makes_its_mistake():
    z = np.log([0.5, 0.3, 0.15, 0.05])
    assert _kept(_top_p_wrong(z, 0.7, "")) == [0, 1]
    assert _kept(_top_p_wrong(z, 0.7, "stops before the crossing token")) == [0]
    shuffled = np.log([0.1, 0.5, 0.05, 0.35])
    assert _kept(_top_p_wrong(shuffled, 0.8, "")) == [1, 3]
    assert _kept(_top_p_wrong(shuffled, 0.8, "vocabulary order")) == [0, 1, 2, 3]
    assert _kept(_top_p_wrong(z, 0.0, "top token not kept")) == [] and _kept(_top_p_wrong(z, 0.0, "")) == [0]
    probs = _top_p_wrong(z, 0.7, "returns probabilities")
    assert np.allclose(probs[:2], [0.5, 0.3])


def test_greedy_for_every_p_up_to_the_top_probability():
    """The answer to the exercise's first question: p <= max probability keeps only the argmax."""
    z = np.log([0.2, 0.45, 0.35])
    assert _kept(_top_p_reference(z, 0.45 - 1e-9)) == [1]
    assert _kept(_top_p_reference(z, 0.45 + 1e-9)) == [1, 2]
