"""Exercise 11.4 (``fusion.prompt_ensemble``): its expected values, its hand-worked cases, its wrong answers.

The expected values come from :mod:`troikadl.fusion.zeroshot` (tested against loops in
tests/test_fusion_zeroshot.py). Here: the public cases' answers, worked by hand (angles in the plane); the
package agrees with the exercise's statement (an independent loop written below) on random embeddings; and each
registered wrong answer makes the mistake it is named after, on the case built for it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import troikadl as tk
from troikadl.grading import EXERCISES
from troikadl.grading.fusion import _LONG, _MAX, _SCALES, _SPREAD, _ensemble_package

EX = "fusion.prompt_ensemble"


def statement(image_emb, prompt_emb):
    """The exercise's statement as loops: unit prompts, their mean, renormalized; the best cosine per image."""
    classes = []
    for templates in np.asarray(prompt_emb, dtype=float):
        mean = sum(t / math.hypot(*t) for t in templates) / len(templates)
        classes.append(mean / math.hypot(*mean))
    out = []
    for x in np.asarray(image_emb, dtype=float):
        cos = [float(x @ c) / math.hypot(*x) for c in classes]
        out.append(max(range(len(cos)), key=lambda k: (cos[k], -k)))
    return np.array(out)


def test_public_cases_by_hand():
    # long prompt: class 0 templates at 0 and 90 degrees -> 45 degrees; class 1 at about 101 degrees.
    # Image 0 at 59.5 degrees is 14.5 from class 0; image 1 at 11.3 degrees is nearest class 0 too.
    assert _ensemble_package(*_LONG).tolist() == [0, 0]
    # disagreeing templates: class 0 at 45 degrees, class 1 at 14 degrees
    assert _ensemble_package(*_SPREAD).tolist() == [0, 1, 0]
    # class 0 templates at 0 and 127 degrees -> 63.4 degrees; class 1 at 29.9 degrees
    assert _ensemble_package(*_MAX).tolist() == [1, 0]
    assert _ensemble_package(*_SCALES).tolist() == [0, 0]  # both images lie below 45 degrees


def test_reference_passes(capsys):
    tk.grading.check(EX, statement)
    assert "\u2713" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(30))
def test_the_package_follows_the_statement_on_random_embeddings(seed):
    r = np.random.default_rng(seed)
    c, t, d, n = (int(r.integers(1, k)) for k in (8, 5, 6, 20))
    img = r.normal(size=(n, d + 1)) * r.uniform(0.1, 10, (n, 1))
    prompts = r.normal(size=(c, t, d + 1)) * r.uniform(0.1, 10, (c, t, 1))
    assert _ensemble_package(img, prompts).tolist() == statement(img, prompts).tolist()


def test_each_wrong_answer_makes_its_mistake():
    wrong = EXERCISES[EX].wrong_answers
    assert wrong["averages unnormalized prompts"](*_LONG).tolist() == [1, 0]  # class 0 drawn to 5.7 degrees
    assert wrong["no renormalization after averaging"](*_SPREAD).tolist() == [1, 1, 0]  # class 0 length 0.71
    assert wrong["max over templates"](*_MAX).tolist() == [0, 1]  # image 0 sits on a class-0 template
    assert wrong["normalizes images over the batch"](*_SCALES).tolist() == [1, 0]
    for name, fn in wrong.items():  # each is right where its mistake does not matter
        img, prompts = np.array([[1.0, 0.1]]), np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
        assert fn(img, prompts).tolist() == [0], name
