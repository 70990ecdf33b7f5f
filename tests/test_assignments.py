"""Assignments end to end: generate them, then grade submissions the tests write themselves.

For chapter 8: a correct submission (full marks), the untouched assignment (zero), a partly correct one
(the right partial score) and one hostile or broken submission per failure mode. For every chapter: the
correct submission and the untouched one.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from notebooks import CHAPTERS, ROOT
from troikadl.grading import assign, autograde

pytestmark = pytest.mark.slow
CHAPTER = "08_nas"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    status = assign.build(ROOT / "chapters", out, log=lambda s: None)
    return out, status


def _nb(path):
    return json.loads(path.read_text())


def _with_answers(release_nb, answers):
    """A submission: the release notebook with some answer cells replaced (grade-id stem -> code)."""
    nb = copy.deepcopy(release_nb)
    for cell in nb["cells"]:
        md = cell["metadata"].get("nbgrader", {})
        stem = md.get("grade_id", "").rpartition("-")[0]
        if md.get("grade_id", "").endswith("-answer") and stem in answers:
            cell["source"] = answers[stem]
    return nb


def _solutions(source_nb):
    return {c["metadata"]["nbgrader"]["grade_id"].rpartition("-")[0]: c["source"] for c in source_nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade_id", "").endswith("-answer")}


def _rows(path):
    return list(csv.DictReader(path.open()))


# --- generation -------------------------------------------------------------------------------------------
def test_every_chapter_with_exercises_gets_an_assignment(built):
    out, status = built
    for nb in CHAPTERS:
        assert (out / "source" / nb.stem / f"{nb.stem}.ipynb").is_file()
        release = out / "release" / nb.stem / f"{nb.stem}.ipynb"
        text = release.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, nb.stem
        assert "raise NotImplementedError()" in text
    assert set(status.values()) == {"written"}
    from troikadl.grading import EXERCISES

    all_source = "".join(p.read_text() for p in (out / "source").rglob("*.ipynb"))
    assert all(f'"{e.grade_id}-hidden"' in all_source for e in EXERCISES.values())


def test_release_equals_what_nbgrader_makes(built):
    out, _ = built
    for src in sorted((out / "source").rglob("*.ipynb")):
        ours = _nb(out / "release" / src.parent.name / src.name)
        nb = nbformat.read(src, as_version=4)
        nb, _ = ClearSolutions(enforce_metadata=True).preprocess(nb, {})
        nb, _ = ClearHiddenTests(enforce_metadata=True).preprocess(nb, {})
        theirs = [c.source for c in nb.cells]
        assert [c["source"] for c in ours["cells"]] == theirs, src.name


def test_edited_files_are_kept_unless_forced(tmp_path):
    out = tmp_path / "a"
    assign.build(ROOT / "chapters", out, log=lambda s: None)
    edited = out / "release" / CHAPTER / f"{CHAPTER}.ipynb"
    edited.write_text(edited.read_text().replace("Assignment:", "Homework 3:"))
    messages = []
    status = assign.build(ROOT / "chapters", out, log=messages.append)
    rel = f"release/{CHAPTER}/{CHAPTER}.ipynb"
    assert status[rel].startswith("kept") and "Homework 3:" in edited.read_text()
    assert any("not overwriting" in m and "--force" in m for m in messages)
    assert status[f"source/{CHAPTER}/{CHAPTER}.ipynb"] == "unchanged"
    status = assign.build(ROOT / "chapters", out, force=True, log=lambda s: None)
    assert status[rel] == "written" and "Homework 3:" not in edited.read_text()


def test_colab_links_and_errors(tmp_path):
    assign.build(ROOT / "chapters", tmp_path / "a", repo="someone/course", log=lambda s: None)
    index = (tmp_path / "a" / "release" / "README.md").read_text()
    assert (f"https://colab.research.google.com/github/someone/course/blob/main/a/release/{CHAPTER}/{CHAPTER}.ipynb"
            in index)
    with pytest.raises(ValueError, match="found none"):
        assign.build(tmp_path / "nothing", tmp_path / "b", log=lambda s: None)


# --- grading ----------------------------------------------------------------------------------------------
def test_correct_and_untouched_submissions_of_every_chapter(built, tmp_path):
    out, _ = built
    subs = tmp_path / "subs"
    for src in sorted((out / "source").rglob("*.ipynb")):
        for student, nb in (("correct", _nb(src)), ("untouched", _nb(out / "release" / src.parent.name / src.name))):
            (subs / student).mkdir(parents=True, exist_ok=True)
            (subs / student / src.name).write_text(json.dumps(nb))
    rows = autograde.grade_folder(out / "source", subs, tmp_path / "grades.csv", jobs=2, log=lambda s: None)
    assert {r.chapter for r in rows} == {p.stem for p in CHAPTERS}
    for r in rows:
        if r.student == "correct":
            assert r.points == r.max_points == 3 and r.status == "passed", r
        else:
            assert r.points == 0 and r.status == "not attempted" and "NotImplementedError" in r.feedback, r
    assert len(_rows(tmp_path / "grades.csv")) == len(rows)


HOSTILE = {
    "raises": ("raise RuntimeError('boom')", "error", "RuntimeError: boom"),
    "loops forever": ("while True:\n    pass", "timed out", "stopped after"),
    "prints megabytes": ("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)", "error",
                         "more output than allowed"),
    "writes and deletes files": ("import os, shutil\nfor i in range(200):\n    open(f'junk{i}.txt', 'w').write('x')\n"
                                 "shutil.rmtree(os.getcwd())", "failed", "NameError"),
    "exhausts memory": ("hog = bytearray(64 * 2**30)", "error", "MemoryError"),
    "imports a missing module": ("import a_module_that_does_not_exist", "error", "ModuleNotFoundError"),
    "exits the interpreter": ("import os\nos._exit(3)", "crashed", "exited with code 3"),
}


def test_partial_and_hostile_submissions_of_one_chapter(built, tmp_path):
    out, _ = built
    src, rel = _nb(out / "source" / CHAPTER / f"{CHAPTER}.ipynb"), _nb(out / "release" / CHAPTER / f"{CHAPTER}.ipynb")
    good = _solutions(src)
    subs = tmp_path / "subs"

    def submit(student, nb):
        (subs / student).mkdir(parents=True, exist_ok=True)
        (subs / student / f"{CHAPTER}.ipynb").write_text(json.dumps(nb) if isinstance(nb, dict) else nb)

    submit("correct", _with_answers(rel, good))
    submit("untouched", rel)
    # partly correct: mutate changes its argument in place (passes the public cases, fails a hidden check),
    # evolution_step is right, pareto_front and successive_halving are not attempted
    in_place = ("def mutate(arch, options, u_option, u_value):\n    import math\n    names = list(options)\n"
                "    name = names[math.floor(u_option * len(names))]\n"
                "    others = [v for v in options[name] if v != arch[name]]\n"
                "    arch[name] = others[math.floor(u_value * len(others))]\n    return dict(arch)\n")
    submit("partial", _with_answers(rel, {"nas-mutate": in_place, "nas-evolution_step": good["nas-evolution_step"]}))
    for k, (code, _, _) in enumerate(HOSTILE.values()):
        submit(f"hostile{k}", _with_answers(rel, {**good, "nas-mutate": code}))
    submit("garbage", "this is not a notebook {")
    no_cells = copy.deepcopy(rel)
    no_cells["cells"] = [c for c in no_cells["cells"] if "nas-pareto_front-answer" not in json.dumps(c["metadata"])]
    submit("deleted", _with_answers(no_cells, good))

    rows = autograde.grade_folder(out / "source", subs, tmp_path / "g.csv", timeout=8, jobs=2, memory_mb=2048,
                                  log=lambda s: None)
    by = {(r.student, r.exercise): r for r in rows}
    total = {s: sum(r.points for r in rows if r.student == s) for s in {r.student for r in rows}}
    assert total["correct"] == 12 and total["untouched"] == 0
    assert by["partial", "nas-mutate"].points == 1 and by["partial", "nas-mutate"].status == "partly passed"
    assert "must not modify its argument" in by["partial", "nas-mutate"].feedback
    assert total["partial"] == 4
    for k, (name, (_, status, message)) in enumerate(HOSTILE.items()):
        r = by[f"hostile{k}", "nas-mutate"]
        assert r.points == 0 and r.status == status and message in r.feedback, (name, r)
        assert total[f"hostile{k}"] == 9, (name, total)  # the other three exercises are still graded
    assert total["garbage"] == 0 and by["garbage", "nas-mutate"].status == "unreadable"
    assert by["deleted", "nas-pareto_front"].status == "missing" and total["deleted"] == 9
    written = _rows(tmp_path / "g.csv")
    assert len(written) == len(rows) and set(written[0]) == set(autograde.FIELDS)
    assert max(len(r["feedback"]) for r in written) <= 1600


def test_grader_refuses_bad_folders(built, tmp_path):
    out, _ = built
    with pytest.raises(ValueError, match="one folder per student"):
        autograde.grade_folder(out / "source", tmp_path / "none", tmp_path / "g.csv", log=lambda s: None)
    with pytest.raises(ValueError, match="source notebooks"):
        autograde.grade_folder(tmp_path, tmp_path, tmp_path / "g.csv", log=lambda s: None)
    shutil.rmtree(tmp_path / "none", ignore_errors=True)


# --- what the grader runs: as nbgrader, a student's own cells count and a stray failing call does not ----------
OWN_CELL = ("import math\n\n\ndef _pick(seq, u):\n    return seq[math.floor(u * len(seq))]\n")
USES_OWN_CELL = ("def mutate(arch, options, u_option, u_value):\n    names = list(options)\n"
                 "    name = _pick(names, u_option)\n    others = [v for v in options[name] if v != arch[name]]\n"
                 "    child = dict(arch)\n    child[name] = _pick(others, u_value)\n    return child\n")


def _students(rel, good):
    """student -> submission of chapter 8: the two cases where the course's grader once disagreed with nbgrader."""
    own = _with_answers(rel, {**good, "nas-mutate": USES_OWN_CELL})
    at = next(i for i, c in enumerate(own["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") ==
              "nas-mutate-answer")
    own["cells"].insert(at, {"cell_type": "code", "metadata": {}, "source": OWN_CELL, "outputs": [],
                             "execution_count": None, "id": "student-own-cell"})
    scratch = _with_answers(rel, {**good, "nas-mutate": good["nas-mutate"] + "\nmutate({'a': 1}, None, 0.5, 0.5)\n"})
    no_helper = _with_answers(rel, {**good, "nas-mutate": USES_OWN_CELL})  # the helper is nowhere: must fail
    return {"correct": _with_answers(rel, good), "owncell": own, "scratch": scratch, "nohelper": no_helper,
            "untouched": rel}


EXPECTED_TOTALS = {"correct": 12, "owncell": 12, "scratch": 12, "nohelper": 9, "untouched": 0}


def test_own_cells_and_stray_calls_are_graded_as_nbgrader_grades_them(built, tmp_path):
    out, _ = built
    src, rel = _nb(out / "source" / CHAPTER / f"{CHAPTER}.ipynb"), _nb(out / "release" / CHAPTER / f"{CHAPTER}.ipynb")
    subs = tmp_path / "subs"
    for student, nb in _students(rel, _solutions(src)).items():
        (subs / student).mkdir(parents=True)
        (subs / student / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    rows = autograde.grade_folder(out / "source", subs, tmp_path / "g.csv", jobs=2, log=lambda s: None)
    total = {s: sum(r.points for r in rows if r.student == s) for s in EXPECTED_TOTALS}
    assert total == EXPECTED_TOTALS, total
    by = {(r.student, r.exercise): r for r in rows}
    assert by["scratch", "nas-mutate"].status == "passed" and "your answer cell raised" in by["scratch", "nas-mutate"].feedback
    assert "NameError" in by["nohelper", "nas-mutate"].feedback and by["nohelper", "nas-mutate"].status == "failed"


def test_nbgrader_itself_gives_the_same_totals(built, tmp_path):
    """nbgrader's own generate_assignment, autograde and export, on the same submissions."""
    import os
    import subprocess
    import sys

    out, _ = built
    src, rel = _nb(out / "source" / CHAPTER / f"{CHAPTER}.ipynb"), _nb(out / "release" / CHAPTER / f"{CHAPTER}.ipynb")
    course = tmp_path / "course"
    (course / "source" / CHAPTER).mkdir(parents=True)
    shutil.copy(out / "source" / CHAPTER / f"{CHAPTER}.ipynb", course / "source" / CHAPTER)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.course_id = 'troika'\n"
        "c.ExecutePreprocessor.timeout = 120\n")
    nbgrader = [sys.executable, "-m", "nbgrader"]

    def call(*args):
        env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))  # alembic
        done = subprocess.run([*nbgrader, *args], cwd=course, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])

    call("generate_assignment", CHAPTER, "--force")
    for student, nb in _students(rel, _solutions(src)).items():
        call("db", "student", "add", student)
        (course / "submitted" / student / CHAPTER).mkdir(parents=True)
        (course / "submitted" / student / CHAPTER / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    call("autograde", CHAPTER, "--force")
    call("export", "--to", str(tmp_path / "nbgrader.csv"))
    scores = {r["student_id"]: float(r["raw_score"]) for r in _rows(tmp_path / "nbgrader.csv")}
    assert scores == EXPECTED_TOTALS, scores


# --- the console scripts, as an instructor runs them ----------------------------------------------------------
def _console_script(name):
    """The script pip installed for ``name`` ([project.scripts] in companion/pyproject.toml), next to this Python."""
    import sys
    from pathlib import Path

    path = Path(sys.executable).parent / name
    found = str(path) if path.is_file() else shutil.which(name)
    assert found, f"{name} is not installed next to {sys.executable} nor on PATH: reinstall the companion"
    return found


def _run(*args):
    import subprocess

    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)


def test_console_scripts_assign_then_grade(tmp_path):
    """``troika-assign`` writes the assignments and ``troika-grade`` grades a correct chapter 8 submission."""
    assign_cmd, grade_cmd = _console_script("troika-assign"), _console_script("troika-grade")
    for cmd, words in ((assign_cmd, ("chapters", "--force", "--repo")), (grade_cmd, ("submissions", "--timeout"))):
        done = _run(cmd, "--help")
        assert done.returncode == 0 and done.stdout.startswith("usage:"), (cmd, done.stderr[-2000:])
        assert all(w in done.stdout for w in words), done.stdout

    out = tmp_path / "assignments"
    done = _run(assign_cmd, ROOT / "chapters", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{2 * len(CHAPTERS) + 1} file(s) written" in done.stdout, done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest) == {f"{kind}/{p.stem}/{p.stem}.ipynb" for kind in ("source", "release") for p in CHAPTERS} | {
        "release/README.md"}
    release = (out / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in release and "raise NotImplementedError()" in release

    source = out / "source" / CHAPTER / f"{CHAPTER}.ipynb"
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    shutil.copy(source, tmp_path / "subs" / "alice")  # the solutions: a correct submission
    done = _run(grade_cmd, out / "source", tmp_path / "subs", tmp_path / "grades.csv", "--jobs", "2", "--timeout", "60")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "graded 4 answers of 1 student(s)" in done.stdout, done.stdout
    rows = _rows(tmp_path / "grades.csv")
    assert [(r["student"], r["chapter"]) for r in rows] == [("alice", CHAPTER)] * 4
    assert all(r["status"] == "passed" and float(r["points"]) == float(r["max_points"]) == 3 for r in rows), rows

    done = _run(grade_cmd, out / "source", tmp_path / "nobody", tmp_path / "g.csv")  # a mistake: an error, not a CSV
    assert done.returncode != 0 and "one folder per student" in done.stderr and not (tmp_path / "g.csv").exists()
