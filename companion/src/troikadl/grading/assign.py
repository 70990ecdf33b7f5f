"""Assignments: one notebook per chapter holding only that chapter's exercises, for students and instructors.

Introduced with the course's assignments (see the instructors' page of the book). From each chapter
notebook (nbgrader's *source* format, see :mod:`troikadl.grading.core`) it writes

- ``source/<NN_slug>/<NN_slug>.ipynb``: the instructor's version: set-up, each exercise's task, its
  solution, its public check and its hidden cases (what nbgrader calls the source version, and what
  :mod:`troikadl.grading.autograde` grades against);
- ``release/<NN_slug>/<NN_slug>.ipynb``: the student's version: solutions replaced by
  ``raise NotImplementedError()``, hidden cases removed, exactly as nbgrader's ``ClearSolutions`` and
  ``ClearHiddenTests`` would do;
- ``release/README.md``: the list of assignments, with Colab links when ``--repo`` is given;
- ``manifest.json``: a hash of every file written, so that a later run never overwrites a file that was
  edited after it was generated (unless ``--force``), and says so.

Run it from the repository: ``python -m troikadl.grading.assign chapters assignments``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["REPOSITORY", "exercise_cells", "make_assignment", "release_version", "build", "main"]

#: Where the course lives (the book's ``repository.url``; a test checks that the two agree).
REPOSITORY = "https://github.com/troika-dl/troika"

SETUP = ("# Set-up: the course's companion package (Colab installs it; a local set-up has it already).\n"
         "import importlib.util, subprocess, sys\n"
         "if importlib.util.find_spec(\"troikadl\") is None:\n"
         "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"{requirement}\"], check=True)\n"
         "import numpy as np\n"
         "import troikadl as tk")
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$", re.M | re.S)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _kind(cell: dict[str, Any]) -> str | None:
    md = cell.get("metadata", {}).get("nbgrader")
    return md["grade_id"].rpartition("-")[2] if md else None


def exercise_cells(nb: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """For each exercise of a chapter notebook: its task (the Markdown cell just before the answer), the
    answer cell, the public check and the hidden cases, in notebook order."""
    cells = nb["cells"]
    out = []
    for i, cell in enumerate(cells):
        if _kind(cell) != "answer":
            continue
        group = [cells[i - 1]] if i > 0 and cells[i - 1]["cell_type"] == "markdown" else []
        group.append(cell)
        j = i + 1
        while j < len(cells) and _kind(cells[j]) in ("public", "hidden"):
            group.append(cells[j])
            j += 1
        out.append(copy.deepcopy(group))
    return out


def make_assignment(nb: dict[str, Any], title: str, requirement: str) -> dict[str, Any]:
    """The instructor's assignment notebook for one chapter (``nb`` in nbformat 4 JSON)."""
    groups = exercise_cells(nb)
    if not groups:
        raise ValueError(f"the chapter {title!r} has no exercises (no nbgrader answer cells)")
    head = {"cell_type": "markdown", "metadata": {}, "source":
            f"# Assignment: {title}\n\nWrite each function where it says `raise NotImplementedError()`, then run "
            "the cell below it: it checks your answer on public cases and tells you what is wrong. Your "
            "submission is also graded on cases you do not see. Do not rename the functions, and do not "
            "edit the check cells (they are replaced by the originals when grading).\n\n"
            "**What the grader runs**, for each exercise, in a fresh Python: the set-up, then in notebook order "
            "the code cells you added yourself (above the exercise, or right below its answer), then the "
            "exercise's answer cell, then the checks. As in nbgrader, a cell that raises is reported and the next "
            "one still runs, so an import or a helper in a cell of your own counts. It does not run the other "
            "exercises' answer cells: put a helper that several exercises use in a cell of your own."}
    setup = {"cell_type": "code", "metadata": {"nbgrader": {"grade": False, "grade_id": "setup", "locked": True,
                                                            "schema_version": 3, "solution": False, "task": False}},
             "source": SETUP.format(requirement=requirement), "outputs": [], "execution_count": None}
    cells = [head, setup] + [c for g in groups for c in g]
    for k, c in enumerate(cells):
        c.setdefault("id", f"cell-{k}")
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
        c["source"] = _source(c)
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"}, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def release_version(source_nb: dict[str, Any]) -> dict[str, Any]:
    """The student's version: solution regions become ``# YOUR CODE HERE`` and ``raise
    NotImplementedError()`` (keeping their indentation), hidden-test regions are removed, exactly as
    nbgrader's ``ClearSolutions`` and ``ClearHiddenTests`` do (a test compares the two)."""
    nb = copy.deepcopy(source_nb)
    for cell in nb["cells"]:
        text = _source(cell)
        if _kind(cell) == "answer":
            text = _SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", text)
        elif _kind(cell) == "hidden":
            text = _HIDDEN.sub("", text)
        cell["source"] = text
    return nb


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(chapters: str | Path, out: str | Path, *, force: bool = False, repo: str | None = None,
          branch: str = "main", requirement: str | None = None, log: Callable[[str], None] = print) -> dict[str, str]:
    """Write every chapter's source and release notebooks under ``out``; returns {relative path: status}.

    ``requirement`` is what the set-up cell installs when ``troikadl`` is missing (Colab); by default the
    companion at this version's tag, like every chapter's cell 1.
    """
    from .. import __version__

    if requirement is None:
        requirement = f"troika-dl @ git+{REPOSITORY}@v{__version__}#subdirectory=companion"
    chapters, out = Path(chapters), Path(out)
    notebooks = sorted(chapters.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise ValueError(f"chapters must be a folder of NN_slug.ipynb chapter notebooks, found none in {chapters}")
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    status: dict[str, str] = {}
    index = ["# Assignments", "", "| Assignment | Student notebook |", "|---|---|"]

    def write(rel: str, text: str) -> None:
        path = out / rel
        if path.exists() and not force:
            current = _sha(path.read_text())
            if current == _sha(text):
                status[rel] = "unchanged"
                return
            if manifest.get(rel) != current:
                status[rel] = "kept (edited after it was generated; use --force to overwrite)"
                log(f"not overwriting {path}: it was edited after it was generated (use --force)")
                return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        manifest[rel] = _sha(text)
        status[rel] = "written"

    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        if not exercise_cells(nb):
            continue
        title = next((_source(c).splitlines()[0].lstrip("# ") for c in nb["cells"] if c["cell_type"] == "markdown"),
                     nb_path.stem)
        name = nb_path.stem
        source = make_assignment(nb, title, requirement)
        write(f"source/{name}/{name}.ipynb", json.dumps(source, indent=1, ensure_ascii=False) + "\n")
        write(f"release/{name}/{name}.ipynb", json.dumps(release_version(source), indent=1, ensure_ascii=False) + "\n")
        link = (f"[open in Colab](https://colab.research.google.com/github/{repo}/blob/{branch}/"
                f"{out.name}/release/{name}/{name}.ipynb)" if repo else f"`release/{name}/{name}.ipynb`")
        index.append(f"| {title} | {link} |")
    write("release/README.md", "\n".join(index) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    written = sum(s == "written" for s in status.values())
    log(f"{written} file(s) written, {sum(s == 'unchanged' for s in status.values())} unchanged, "
        f"{sum(s.startswith('kept') for s in status.values())} kept, in {out}")
    return status


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: ``python -m troikadl.grading.assign chapters out [--force] [--repo owner/name]``."""
    parser = argparse.ArgumentParser(prog="python -m troikadl.grading.assign",
                                     description="Make one assignment notebook per chapter (source and release).")
    parser.add_argument("chapters", help="the folder of chapter notebooks (the repository's chapters/)")
    parser.add_argument("out", help="where to write source/, release/ and manifest.json")
    parser.add_argument("--force", action="store_true", help="overwrite files edited after they were generated")
    parser.add_argument("--repo", help="owner/name of the GitHub repository that will host release/ (Colab links)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--requirement", default=None,
                        help="what the set-up cell pip-installs when troikadl is missing (default: this version's tag)")
    args = parser.parse_args(argv)
    build(args.chapters, args.out, force=args.force, repo=args.repo, branch=args.branch,
          requirement=args.requirement)


if __name__ == "__main__":
    main()
