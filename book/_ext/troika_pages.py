"""Sphinx extension: pages whose tables are generated, so they cannot go stale.

- ``book/status``: ``{troika-status-table}`` becomes the chapters' runtimes and headline numbers, from
  the records ``tk.report(...)`` wrote to ``book/_results`` while the chapters ran. Sphinx is made to
  read this page *after* every chapter, whose execution (in ``make book``) writes those records.
- ``book/instructors``: ``{troika-exercise-table}`` becomes the list of every registered exercise,
  read from ``troikadl.grading``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATUS_DOC = "book/status"
EXERCISES_DOC = "book/instructors"


def _chapter_titles(srcdir: str) -> dict[str, str]:
    """chapter id -> the notebook's first Markdown heading."""
    out = {}
    for nb in sorted((Path(srcdir) / "chapters").glob("[0-9][0-9]_*.ipynb")):
        title = nb.stem
        for c in json.loads(nb.read_text())["cells"]:
            lines = [ln for ln in "".join(c["source"]).splitlines() if ln.startswith("# ")]
            if c["cell_type"] == "markdown" and lines:
                title = lines[0][2:].strip()
                break
        out[nb.stem] = title
    return out


def _link(chapter: str, title: str) -> str:
    return f"[{title}](../chapters/{chapter}.ipynb)"


def status_table(srcdir: str) -> str:
    from troikadl.report import load_results, status_markdown

    results_dir = os.environ.get("TROIKA_RESULTS_DIR") or str(Path(srcdir) / "book" / "_results")
    chapters = [(c, _link(c, t)) for c, t in _chapter_titles(srcdir).items()]
    return status_markdown(load_results(results_dir), chapters)


def exercise_table(srcdir: str) -> str:
    from troikadl.grading import by_chapter

    titles = _chapter_titles(srcdir)
    rows = ["| Chapter | Exercise id | The learner writes | Public cases | Wrong answers it must reject |",
            "|---|---|---|---:|---|"]
    for chapter, exercises in by_chapter().items():
        for ex in exercises:
            wrong = "; ".join(ex.wrong_answers)
            rows.append(f"| {_link(chapter, titles.get(chapter, chapter))} | `{ex.id}` | "
                        f"`{ex.function}`: {ex.title} | {len(ex.cases)} | {wrong} |")
    return "\n".join(rows) + "\n"


PLACEHOLDERS = {STATUS_DOC: ("{troika-status-table}", status_table),
                EXERCISES_DOC: ("{troika-exercise-table}", exercise_table)}


def _read_status_last(app, env, docnames):
    if STATUS_DOC in docnames:
        docnames.remove(STATUS_DOC)
        docnames.append(STATUS_DOC)


def _fill(app, docname, source):
    if docname in PLACEHOLDERS:
        marker, make = PLACEHOLDERS[docname]
        if marker in source[0]:
            source[0] = source[0].replace(marker, make(app.srcdir))


def setup(app):
    app.connect("env-before-read-docs", _read_status_last)
    app.connect("source-read", _fill)
    return {"version": "0.2", "parallel_read_safe": False, "parallel_write_safe": True}
