"""Graded exercises: the format (nbgrader), the public checks, and the registry of every exercise.

A chapter's exercise cell calls ``tk.grading.check("neuron.perceptron_update_01", perceptron_update_01)``.
See :mod:`troikadl.grading.core` for the format; topic modules register their exercises on import.
Introduced in chapter 1.
"""

from __future__ import annotations

from . import attention as _attention  # noqa: F401  (registers the chapter 6 exercises)
from . import backprop as _backprop  # noqa: F401  (registers the chapter 2 exercises)
from . import bert as _bert  # noqa: F401  (registers the chapter 7 exercises)
from . import cnn as _cnn  # noqa: F401  (registers the chapter 4 exercises)
from . import compress as _compress  # noqa: F401  (registers the chapter 9 exercises)
from . import fusion as _fusion  # noqa: F401  (registers the chapter 11 exercises)
from . import nas as _nas  # noqa: F401  (registers the chapter 8 exercises)
from . import neuron as _neuron  # noqa: F401  (registers the chapter 1 exercises)
from . import optim as _optim  # noqa: F401  (registers the chapter 3 exercises)
from . import quant as _quant  # noqa: F401  (registers the chapter 10 exercises)
from . import regularization as _regularization  # noqa: F401  (registers the chapter 3 generalization exercise)
from . import rnn as _rnn  # noqa: F401  (registers the chapter 5 exercises)
from . import scaling as _scaling  # noqa: F401  (registers the chapter 12 exercises)
from .core import EXERCISES, Case, Exercise, ExerciseFailed, check, register, run_cases

__all__ = ["EXERCISES", "Case", "Exercise", "ExerciseFailed", "check", "register", "run_cases",
           "by_chapter"]


def by_chapter() -> dict[str, list[Exercise]]:
    """Registered exercises grouped by chapter, in registration order."""
    out: dict[str, list[Exercise]] = {}
    for ex in EXERCISES.values():
        out.setdefault(ex.chapter, []).append(ex)
    return dict(sorted(out.items()))
