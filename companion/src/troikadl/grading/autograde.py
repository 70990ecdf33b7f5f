"""The autograder: grade a folder of submitted assignment notebooks into a per-student, per-exercise table.

Introduced with the course's assignments (see the instructors' page of the book). For every submission
and every exercise, a fresh Python process, in a fresh temporary folder, runs in notebook order the code
cells the student added, up to this exercise's checks, and the exercise's answer cell, then the
instructor's public and hidden test cells, taken from the *source* notebook (never from the submission,
so edited or deleted test cells change nothing). As in nbgrader, which runs the whole notebook, a cell
that raises is reported and the next one runs: a helper or an import in a cell of the student's own
counts, and so does a function defined above a stray failing call. Unlike nbgrader, the *other*
exercises' answer cells are not run, so that a mistake in one exercise never costs another. The process has a time limit, a memory
limit and a limit on the size of the files it writes; its output is discarded beyond a few kilobytes.
Whatever the submission does (raise, loop forever, print megabytes, write or delete files in its folder,
exhaust memory, import a missing module), that exercise gets 0 points with a message saying why, and the
grading goes on. This protects the grading run from broken or hostile code; like nbgrader, it does not
stop a student who sets out to fool the checks from inside their own answer (review odd results).

Layout: ``submissions/<student>/<NN_slug>.ipynb`` (a student folder may hold several chapters);
``source/<NN_slug>/<NN_slug>.ipynb`` as written by :mod:`troikadl.grading.assign`. The result is a CSV
with one row per student, chapter and exercise: points, maximum, status and feedback.

    python -m troikadl.grading.autograde assignments/source submitted grades.csv --timeout 60
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["Grade", "grade_exercise", "grade_folder", "main"]

FIELDS = ["student", "chapter", "exercise", "points", "max_points", "status", "feedback"]
_FEEDBACK_CHARS = 1500

_RUNNER = r'''
import json, os, resource, sys, traceback
results_path, payload_path, mem_bytes, file_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
payload = json.load(open(payload_path))
os.remove(payload_path)  # the student's code must not find the hidden tests on disk
resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
out = open(results_path, "w")
def report(obj):
    out.write(json.dumps(obj) + "\n"); out.flush()
ns = {"__name__": "__main__"}
try:
    # The grader's own code (the exercises' checks, and torch where they use it) is imported before the
    # student's cells run, so that nothing they do to the folder or the environment can break it.
    exec("import numpy as np\nimport troikadl as tk\nimport troikadl.grading", ns)
except BaseException as exc:
    report({"stage": "setup", "ok": False, "message": f"{type(exc).__name__}: {exc}"}); raise SystemExit(0)
def short(exc):
    if isinstance(exc, OSError) and exc.errno == 27:
        return f"OSError: it wrote more output than allowed ({file_bytes // 2**20} MB, printed text and files together)"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 1200 else text[:1200] + " ..."
for cell in payload["cells"]:  # the student's cells, in order; like nbgrader, go on after an error
    try:
        exec(compile(cell["source"], cell["name"], "exec"), ns)
        report({"stage": cell["stage"], "name": cell["name"], "ok": True})
    except BaseException as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f" (line {f.lineno})" for f in reversed(tb) if f.filename == cell["name"]), "")
        report({"stage": cell["stage"], "name": cell["name"], "ok": False, "message": short(exc) + where})
for test in payload["tests"]:
    try:
        exec(compile(test["source"], f"<{test['kind']} test>", "exec"), ns)
        report({"stage": test["kind"], "ok": True})
    except BaseException as exc:
        report({"stage": test["kind"], "ok": False, "message": short(exc)})
'''


@dataclass
class Grade:
    """One row of the grade table."""

    student: str
    chapter: str
    exercise: str
    points: float
    max_points: float
    status: str
    feedback: str


def _src(cell: dict[str, Any]) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _exercises(source_nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """grade-id stem -> {"answer": source, "tests": [{"kind", "source", "points"}]} from a source notebook."""
    out: dict[str, dict[str, Any]] = {}
    for cell in source_nb["cells"]:
        md = cell.get("metadata", {}).get("nbgrader")
        if not md or md.get("grade_id") == "setup":
            continue
        stem, _, kind = md["grade_id"].rpartition("-")
        entry = out.setdefault(stem, {"answer": None, "tests": []})
        if kind == "answer":
            entry["answer"] = _src(cell)
        else:
            entry["tests"].append({"kind": kind, "source": _src(cell), "points": float(md.get("points", 0))})
    return out


def _answers(submission: Path) -> dict[str, list[dict[str, str]]] | str:
    """grade-id stem -> the cells run for that exercise, or an error message if the file cannot be read.

    For each exercise: the code cells the student added (those without nbgrader metadata) above its answer
    cell, the answer cell, and the student's cells right after it, before the next nbgrader cell (where
    nbgrader runs them too: before the checks). Set-up, check cells and other answers are left out.
    """
    try:
        nb = json.loads(submission.read_text())
        cells = [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    except Exception as exc:  # not JSON, not a notebook
        return f"could not read the notebook ({type(exc).__name__}: {str(exc)[:200]})"
    found: dict[str, list[dict[str, str]]] = {}
    own: list[dict[str, str]] = []  # the student's cells seen so far
    current = None  # the exercise whose answer cell came last, until the next nbgrader cell
    for number, cell in enumerate(cells, start=1):
        md = cell.get("metadata", {}).get("nbgrader")
        grade_id = str(md.get("grade_id", "")) if isinstance(md, dict) else ""
        if not md:
            entry = {"source": _src(cell), "name": f"<your code cell {number}>", "stage": "own"}
            own.append(entry)
            if current is not None:
                found[current].append(entry)
        elif grade_id.endswith("-answer"):
            current = grade_id.rpartition("-")[0]
            found[current] = [*own, {"source": _src(cell), "name": "<your answer cell>", "stage": "answer"}]
        else:
            current = None
    return found


def grade_exercise(answer: str | list[dict[str, str]], tests: list[dict[str, Any]], *, timeout: float = 60.0,
                   memory_mb: int = 4096, file_mb: int = 20) -> tuple[float, str, str]:
    """Run one answer and its tests in a fresh process and folder; return (points, status, feedback).

    ``answer`` is the answer cell's source, or the list of cells :func:`_answers` picks for the exercise.
    """
    total = sum(t["points"] for t in tests)
    cells = [{"source": answer, "name": "<your answer cell>", "stage": "answer"}] if isinstance(answer, str) else answer
    with tempfile.TemporaryDirectory(prefix="troika-grade-") as tmp, \
            tempfile.TemporaryDirectory(prefix="troika-results-") as res:
        results, payload = Path(res) / "results.jsonl", Path(res) / "payload.json"
        payload.write_text(json.dumps({"cells": cells, "tests": tests}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
        env.update(TROIKA_QUIET="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1", TROIKA_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1")
        with open(Path(res) / "output.txt", "wb") as output:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(results), str(payload),
                                     str(memory_mb * 2**20), str(file_mb * 2**20)],
                                    cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                    start_new_session=True)
            try:
                proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, 9)  # the whole process group: the student's children too
                except ProcessLookupError:
                    pass
                proc.wait()
        elapsed = time.perf_counter() - start
        lines = results.read_text().splitlines() if results.exists() else []
    stages = []
    for line in lines:
        try:
            stages.append(json.loads(line))
        except json.JSONDecodeError:
            break
    if timed_out:
        return 0.0, "timed out", f"stopped after {timeout:g} s: does your code loop forever or do far too much work?"
    by_stage = {s["stage"]: s for s in stages if s["stage"] not in ("own",)}
    if "setup" in by_stage:
        return 0.0, "error", "the grader could not import numpy and troikadl: " + by_stage["setup"]["message"]
    if "answer" not in by_stage:
        code = proc.returncode
        why = ("it wrote more output than allowed" if code == -25 else
               f"it was killed by signal {-code}" if code and code < 0 else f"it exited with code {code}")
        return 0.0, "crashed", f"the grading process stopped while running your cells ({why}, after {elapsed:.1f} s)"
    cell_notes = [f"{s['name'][1:-1]} raised {s['message']}" for s in stages if s["stage"] in ("own", "answer")
                  and not s["ok"]]
    points, notes = 0.0, []
    for test in tests:
        s = by_stage.get(test["kind"])
        if s is None:
            notes.append(f"{test['kind']} tests: the grading process stopped (exit code {proc.returncode})")
        elif s["ok"]:
            points += test["points"]
        else:
            notes.append(f"{test['kind']} tests: {s['message']}")
    answer_error = None if by_stage["answer"]["ok"] else by_stage["answer"]["message"]
    if points == total:
        status = "passed"
    elif answer_error is not None:
        status = "not attempted" if answer_error.startswith("NotImplementedError") else "error"
    else:
        status = "partly passed" if points > 0 else "failed"
    if status == "not attempted":
        feedback = "not attempted: replace `raise NotImplementedError()` with your code"
    else:
        feedback = "\n".join(cell_notes + notes) or "all tests pass"
        if status == "passed" and cell_notes:
            feedback = "all tests pass (a cell raised, and the next ones ran, as in nbgrader): " + feedback
    if "not written yet" in feedback and status != "passed":
        status = "not attempted"
    if len(feedback) > _FEEDBACK_CHARS:
        feedback = feedback[:_FEEDBACK_CHARS - 4] + " ..."
    return points, status, feedback


def grade_folder(source: str | Path, submissions: str | Path, out: str | Path, *, timeout: float = 60.0,
                 jobs: int = 2, memory_mb: int = 4096, log: Callable[[str], None] = print) -> list[Grade]:
    """Grade every ``submissions/<student>/<NN_slug>.ipynb`` against ``source``; write the CSV ``out``."""
    source, submissions = Path(source), Path(submissions)
    keys = {p.parent.name: _exercises(json.loads(p.read_text())) for p in sorted(source.glob("*/*.ipynb"))}
    if not keys:
        raise ValueError(f"source must hold <chapter>/<chapter>.ipynb source notebooks, found none in {source}")
    students = sorted(p for p in submissions.iterdir() if p.is_dir()) if submissions.is_dir() else []
    if not students:
        raise ValueError(f"submissions must hold one folder per student, found none in {submissions}")
    jobs_list: list[tuple[str, str, str, Any]] = []
    rows: list[Grade] = []
    for student in students:
        for chapter, exercises in keys.items():
            nb = student / f"{chapter}.ipynb"
            if not nb.exists():
                continue
            answers = _answers(nb)
            for ex_id, ex in exercises.items():
                max_points = sum(t["points"] for t in ex["tests"])
                if isinstance(answers, str):
                    rows.append(Grade(student.name, chapter, ex_id, 0.0, max_points, "unreadable", answers))
                elif ex_id not in answers:
                    rows.append(Grade(student.name, chapter, ex_id, 0.0, max_points, "missing",
                                      "the answer cell of this exercise is not in the notebook"))
                else:
                    jobs_list.append((student.name, chapter, ex_id, (answers[ex_id], ex["tests"], max_points)))

    def run(job: tuple[str, str, str, Any]) -> Grade:
        name, chapter, ex_id, (answer, tests, max_points) = job
        pts, status, feedback = grade_exercise(answer, tests, timeout=timeout, memory_mb=memory_mb)
        return Grade(name, chapter, ex_id, pts, max_points, status, feedback)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows.extend(pool.map(run, jobs_list))
    rows.sort(key=lambda g: (g.student, g.chapter, g.exercise))
    out = Path(out)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for g in rows:
            w.writerow(asdict(g))
    log(f"graded {len(jobs_list)} answers of {len(students)} student(s) in {time.perf_counter() - start:.0f} s; "
        f"wrote {out}")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: ``python -m troikadl.grading.autograde source submissions out.csv``."""
    parser = argparse.ArgumentParser(prog="python -m troikadl.grading.autograde", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="assignments/source, as written by troikadl.grading.assign")
    parser.add_argument("submissions", help="a folder with one sub-folder per student holding NN_slug.ipynb files")
    parser.add_argument("out", help="the CSV file to write")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (default 60)")
    parser.add_argument("--jobs", type=int, default=2, help="exercises graded in parallel (default 2)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per process (default 4096)")
    args = parser.parse_args(argv)
    grade_folder(args.source, args.submissions, args.out, timeout=args.timeout, jobs=args.jobs,
                 memory_mb=args.memory_mb)


if __name__ == "__main__":
    main()
