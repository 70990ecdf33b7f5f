"""The exercise format: a registry of exercises, their public cases, their wrong answers, and ``check``.

An exercise is a function the learner writes. In the chapter notebook (the nbgrader *source* version)
its reference solution sits between nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers,
which nbgrader replaces by ``raise NotImplementedError()`` in the student version. The package holds
what may be public: each exercise's **public cases** (run by :func:`check`), a hint, and at least one
**plausible wrong answer** that the cases must reject (the tests check that they do). Instructor-only
cases are not here: they sit in the chapter notebook between ``### BEGIN HIDDEN TESTS`` /
``### END HIDDEN TESTS``, where nbgrader expects them, and never reach the wheel or the student files.

Introduced in chapter 1; the instructors' page of the book lists every registered exercise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Case", "Exercise", "ExerciseFailed", "EXERCISES", "register", "check", "run_cases"]


@dataclass
class Case:
    """One test case: call the learner's function with ``args``/``kwargs`` and compare with ``expected``.

    ``expected`` may be a value or a zero-argument callable that computes it (e.g. with PyTorch), and
    ``raises`` an exception type the call must raise instead. ``hint`` is shown when the case fails.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    raises: type[BaseException] | None = None
    hint: str = ""
    rtol: float = 1e-7
    atol: float = 1e-9

    def expected_value(self) -> Any:
        return self.expected() if callable(self.expected) else self.expected


@dataclass
class Exercise:
    """A registered exercise: where it is taught, what the learner writes, and how it is checked."""

    id: str                      # "topic.name", e.g. "neuron.perceptron_update_01"
    chapter: str                 # the notebook that holds it, e.g. "01_neuron"
    function: str                # the name of the function the learner defines
    title: str
    cases: list[Case]
    wrong_answers: dict[str, Callable[..., Any]]
    hint: str = ""

    @property
    def grade_id(self) -> str:
        """The nbgrader grade id stem (nbgrader allows letters, digits, ``_`` and ``-``)."""
        return self.id.replace(".", "-")


#: Every exercise of the course, by id (topic modules register theirs on import).
EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to :data:`EXERCISES`; refuses one without cases or without a wrong answer."""
    if exercise.id in EXERCISES:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    if "." not in exercise.id:
        raise ValueError(f"exercise id must look like 'topic.name', got {exercise.id!r}")
    if not exercise.cases:
        raise ValueError(f"exercise {exercise.id!r} needs at least one public case")
    if not exercise.wrong_answers:
        raise ValueError(f"exercise {exercise.id!r} needs at least one plausible wrong answer")
    EXERCISES[exercise.id] = exercise
    return exercise


class ExerciseFailed(AssertionError):
    """Raised by :func:`check` when a case fails; its message is the feedback (nbgrader shows it)."""


def _show(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return "array(" + np.array2string(x, precision=6, separator=", ", threshold=20) + ")"
    if isinstance(x, tuple):
        return "(" + ", ".join(_show(v) for v in x) + ("," if len(x) == 1 else "") + ")"
    if isinstance(x, list):
        return "[" + ", ".join(_show(v) for v in x) + "]"
    if isinstance(x, float):
        text = f"{x:.6g}"
        return text if any(c in text for c in ".einf") else text + ".0"
    return repr(x)


def _same(actual: Any, expected: Any, rtol: float, atol: float) -> bool:
    if isinstance(expected, (tuple, list)):
        return (isinstance(actual, (tuple, list)) and len(actual) == len(expected)
                and all(_same(a, e, rtol, atol) for a, e in zip(actual, expected)))
    if isinstance(expected, (np.ndarray, float, int, np.floating, np.integer)) and not isinstance(expected, bool):
        try:
            a = np.asarray(actual, dtype=float)
        except (TypeError, ValueError):
            return False
        e = np.asarray(expected, dtype=float)
        return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=False))
    return bool(actual == expected)


def _copy(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, (tuple, list)):
        return type(x)(_copy(v) for v in x)
    if isinstance(x, dict):
        return {k: _copy(v) for k, v in x.items()}
    return x


def _call_text(fn_name: str, case: Case) -> str:
    parts = [_show(a) for a in case.args] + [f"{k}={_show(v)}" for k, v in case.kwargs.items()]
    return f"{fn_name}({', '.join(parts)})"


def run_cases(ex: Exercise, fn: Callable[..., Any], cases: list[Case]) -> list[str]:
    """Run ``cases`` on ``fn``; return one feedback message per failed case (empty if all pass)."""
    failures = []
    for case in cases:
        call = _call_text(ex.function, case)
        try:
            actual = fn(*_copy(case.args), **_copy(case.kwargs))
        except NotImplementedError:
            return [f"{ex.function} is not written yet: replace the line `raise NotImplementedError()` "
                    f"with your code (the exercise above says what it must compute). {ex.hint}".strip()]
        except Exception as exc:  # the learner's code raised
            if case.raises is not None and isinstance(exc, case.raises):
                continue
            want = (f"it should raise {case.raises.__name__}" if case.raises is not None
                    else f"expected {_show(case.expected_value())}")
            failures.append(f"case '{case.name}': {call} raised {type(exc).__name__}: {exc}; {want}. "
                            f"{case.hint}".strip())
            continue
        if case.raises is not None:
            failures.append(f"case '{case.name}': {call} returned {_show(actual)}, but it should raise "
                            f"{case.raises.__name__}. {case.hint}".strip())
            continue
        expected = case.expected_value()
        if actual is None and expected is not None:
            failures.append(f"case '{case.name}': {call} returned None. Did you forget `return`?")
        elif not _same(actual, expected, case.rtol, case.atol):
            failures.append(f"case '{case.name}': {call}\n    returned {_show(actual)}\n    expected "
                            f"{_show(expected)}\n    hint: {case.hint or ex.hint}")
    return failures


def check(exercise_id: str, fn: Callable[..., Any], *, cases: list[Case] | None = None) -> None:
    """Check a learner's function on the exercise's public cases (or on ``cases``) and give feedback.

    Prints a one-line confirmation when every case passes; otherwise raises :class:`ExerciseFailed`
    whose message names each failing case with its input, the expected and the actual value, and a
    hint. (Raising is what lets nbgrader's autograder score the cell.)
    """
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise ValueError(f"exercise_id {exercise_id!r} is not a known exercise; known: {known}")
    if not callable(fn):
        raise TypeError(f"fn must be the function you wrote, got {type(fn).__name__}")
    ex = EXERCISES[exercise_id]
    todo = ex.cases if cases is None else cases
    failures = run_cases(ex, fn, todo)
    if failures:
        head = f"{exercise_id}: {len(failures)} of {len(todo)} case(s) failed"
        if len(failures) == 1 and "is not written yet" in failures[0]:
            head = f"{exercise_id}: not attempted yet"
        raise ExerciseFailed(head + "\n- " + "\n- ".join(failures))
    print(f"\u2713 {exercise_id}: all {len(todo)} {'public ' if cases is None else ''}cases pass")
