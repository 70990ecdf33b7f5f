"""Every exercise: the solution passes, the nbgrader stub fails helpfully, every wrong answer fails.

The exercises are found in two places that must agree: the registry (``troikadl.grading.EXERCISES``:
public cases and wrong answers) and the chapter notebooks (nbgrader cells: the solution between
``### BEGIN SOLUTION`` markers, the public check, the hidden tests). The student version is made with
nbgrader's own preprocessors, so the stub tested here is exactly what a learner receives.
"""

from __future__ import annotations

import copy

import nbformat
import numpy as np
import pytest
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

import troikadl as tk
from notebooks import CHAPTERS, ROOT
from troikadl.grading import EXERCISES, Case, Exercise, ExerciseFailed

KINDS = ("answer", "public", "hidden")


def _cells(nb) -> dict[tuple[str, str], nbformat.NotebookNode]:
    """(exercise grade-id stem, kind) -> cell, for every nbgrader cell of a notebook."""
    out = {}
    for cell in nb.cells:
        md = cell.metadata.get("nbgrader")
        if md:
            stem, _, kind = md["grade_id"].rpartition("-")
            assert kind in KINDS, f"grade_id {md['grade_id']!r} must end in -answer, -public or -hidden"
            out[(stem, kind)] = cell
    return out


def _student(nb):
    """The student version, made by nbgrader's ClearSolutions and ClearHiddenTests."""
    nb = copy.deepcopy(nb)
    nb, _ = ClearSolutions(enforce_metadata=True).preprocess(nb, {})
    nb, _ = ClearHiddenTests(enforce_metadata=True).preprocess(nb, {})
    return nb


SOURCE = {p.stem: nbformat.read(p, as_version=4) for p in CHAPTERS}
CELLS = {chap: _cells(nb) for chap, nb in SOURCE.items()}
STUDENT = {chap: _cells(_student(nb)) for chap, nb in SOURCE.items()}
IDS = sorted(EXERCISES)


def _define(source: str, name: str):
    ns = {"np": np, "tk": tk}
    exec(compile(source, f"<{name} cell>", "exec"), ns)
    assert name in ns, f"the cell must define {name}()"
    return ns


@pytest.mark.parametrize("chapter", sorted(SOURCE))
def test_each_chapter_has_two_to_four_exercises(chapter):
    registered = [e for e in EXERCISES.values() if e.chapter == chapter]
    assert 2 <= len(registered) <= 4, f"{chapter} has {len(registered)} exercises; the course wants 2-4"


def test_registry_and_notebooks_agree():
    in_notebooks = {(chap, stem) for chap, cells in CELLS.items() for (stem, _) in cells}
    registered = {(e.chapter, e.grade_id) for e in EXERCISES.values()}
    assert in_notebooks == registered
    for ex in EXERCISES.values():
        for kind in KINDS:
            assert (ex.grade_id, kind) in CELLS[ex.chapter], f"{ex.id}: no -{kind} cell in {ex.chapter}"


@pytest.mark.parametrize("exercise_id", IDS)
def test_cells_follow_nbgrader_conventions(exercise_id):
    ex = EXERCISES[exercise_id]
    answer, public, hidden = (CELLS[ex.chapter][(ex.grade_id, k)] for k in KINDS)
    assert "### BEGIN SOLUTION" in answer.source and "### END SOLUTION" in answer.source
    assert answer.metadata.nbgrader["solution"] and not answer.metadata.nbgrader["locked"]
    assert "hide-input" in answer.metadata.get("tags", []), "the book shows the solution collapsed"
    assert f'tk.grading.check("{exercise_id}", {ex.function})' in public.source
    assert public.metadata.nbgrader["grade"] and public.metadata.nbgrader["locked"]
    assert "### BEGIN HIDDEN TESTS" in hidden.source and "### END HIDDEN TESTS" in hidden.source
    assert hidden.metadata.nbgrader["grade"] and "remove-cell" in hidden.metadata.get("tags", [])


@pytest.mark.parametrize("exercise_id", IDS)
def test_solution_passes_public_and_hidden_cases(exercise_id, capsys):
    ex = EXERCISES[exercise_id]
    ns = _define(CELLS[ex.chapter][(ex.grade_id, "answer")].source, ex.function)
    exec(CELLS[ex.chapter][(ex.grade_id, "public")].source, ns)
    exec(CELLS[ex.chapter][(ex.grade_id, "hidden")].source, ns)
    assert capsys.readouterr().out.count("\u2713") == 2


@pytest.mark.parametrize("exercise_id", IDS)
def test_untouched_stub_fails_with_a_helpful_message(exercise_id):
    ex = EXERCISES[exercise_id]
    stub = STUDENT[ex.chapter][(ex.grade_id, "answer")].source
    assert "### BEGIN SOLUTION" not in stub and "raise NotImplementedError()" in stub
    ns = _define(stub, ex.function)
    with pytest.raises(ExerciseFailed) as err:
        exec(STUDENT[ex.chapter][(ex.grade_id, "public")].source, ns)
    msg = str(err.value)
    assert "not attempted yet" in msg and "raise NotImplementedError()" in msg
    assert ex.hint in msg, "the stub's feedback should give the exercise's hint"


@pytest.mark.parametrize("exercise_id", IDS)
def test_student_version_has_no_hidden_cases(exercise_id):
    ex = EXERCISES[exercise_id]
    hidden = STUDENT[ex.chapter][(ex.grade_id, "hidden")].source
    assert "Case(" not in hidden and "HIDDEN" not in hidden


WRONG = [(i, name) for i in IDS for name in EXERCISES[i].wrong_answers]


@pytest.mark.parametrize("exercise_id, wrong", WRONG, ids=[f"{i}:{w}" for i, w in WRONG])
def test_every_plausible_wrong_answer_fails_naming_the_case(exercise_id, wrong):
    fn = EXERCISES[exercise_id].wrong_answers[wrong]
    with pytest.raises(ExerciseFailed, match=r"case '[^']+'") as err:
        tk.grading.check(exercise_id, fn)
    assert "failed" in str(err.value)


def test_feedback_names_input_expected_actual_and_hint():
    ex = EXERCISES["neuron.boundary_line"]
    with pytest.raises(ExerciseFailed) as err:
        tk.grading.check(ex.id, ex.wrong_answers["intercept sign error"])
    msg = str(err.value)
    assert "case 'with a bias': boundary_line(array([ 2., -1.]), 0.5)" in msg
    assert "returned (2.0, -0.5)" in msg and "expected (2.0, 0.5)" in msg and "hint:" in msg


def test_register_refuses_incomplete_exercises():
    base = dict(chapter="99_test", function="f", title="t", cases=[Case("c", (1,), expected=1)])
    with pytest.raises(ValueError, match="at least one plausible wrong answer"):
        tk.grading.register(Exercise(id="test.no_wrong", wrong_answers={}, **base))
    with pytest.raises(ValueError, match="at least one public case"):
        tk.grading.register(Exercise(id="test.no_cases", wrong_answers={"w": abs},
                                     **{**base, "cases": []}))
    with pytest.raises(ValueError, match="registered twice"):
        tk.grading.register(Exercise(id=IDS[0], wrong_answers={"w": abs}, **base))
    assert "test.no_wrong" not in EXERCISES


def test_check_errors_and_other_failures(capsys):
    with pytest.raises(ValueError, match="is not a known exercise"):
        tk.grading.check("neuron.nope", abs)
    with pytest.raises(TypeError, match="fn must be the function you wrote"):
        tk.grading.check("neuron.boundary_line", 3)
    with pytest.raises(ExerciseFailed, match="returned None. Did you forget `return`"):
        tk.grading.check("neuron.boundary_line", lambda w, b: None)
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        tk.grading.check("neuron.boundary_line", lambda w, b: (1 / 0, 0))


def test_hidden_cases_are_not_in_the_package():
    import re

    for py in (ROOT / "companion/src").rglob("*.py"):
        assert not re.search(r"^\s*### BEGIN HIDDEN TESTS", py.read_text(), re.M), py


# --- one convention: the exercises and the package agree ------------------------------------------------------
def _magnitude_masks(weights, sparsity):
    import torch

    return [m.numpy() for m in tk.compress.prune.magnitude_masks([torch.tensor(w) for w in weights], sparsity)]


def _quantize_tensor(x, bits):
    qp = tk.compress.quantize.choose_qparams(x, bits=bits, symmetric=False)
    return tk.compress.quantize.quantize(x, qp), float(qp.scale), int(qp.zero_point)


def _recall_at_k(similarity, targets, k=1):
    from troikadl.fusion import recall_at_k

    return recall_at_k(similarity, targets, k)


#: exercise -> the package function that computes the same thing (adapted to the exercise's signature).
#: Their public cases hold hand-computed values, so the package must reproduce them: one convention each
#: (how ties are broken, which end of a range is open, how a count is rounded).
PACKAGE_COUNTERPARTS = {
    "cnn.output_size": tk.conv.conv_output_size,
    "cnn.correlate2d": lambda image, kernel: tk.conv.conv2d_loops(image[None, None], kernel[None, None])[0, 0],
    "cnn.receptive_field": lambda layers: tk.architectures.receptive_field(layers)[0],
    "compress.global_magnitude_mask": _magnitude_masks,
    "quant.quantize_tensor": _quantize_tensor,
    "nas.pareto_front": lambda cost, score: tk.nas.analysis.pareto_front(cost, score).tolist(),
    "fusion.recall_at_k": _recall_at_k,
}


@pytest.mark.parametrize("exercise_id", sorted(PACKAGE_COUNTERPARTS))
def test_the_package_passes_the_exercises_it_teaches(exercise_id, capsys):
    tk.grading.check(exercise_id, PACKAGE_COUNTERPARTS[exercise_id])
    assert "\u2713" in capsys.readouterr().out


def test_grading_keeps_no_copy_of_the_packages_helpers():
    """Expected values come from the package's tested functions or PyTorch: no second softmax, sigmoid or -100."""
    import re

    for py in (ROOT / "companion/src/troikadl/grading").glob("*.py"):
        text = py.read_text()
        assert not re.search(r"^def _?(log_)?(softmax|sigmoid|sig)\b", text, re.M), py.name
        assert not re.search(r"^\w+ = -100\b", text, re.M), f"{py.name}: import the package's IGNORE"
