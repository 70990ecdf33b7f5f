"""Sphinx extension: pages whose tables are generated, so they cannot go stale.

- ``book/status``: ``{troika-status-table}`` becomes the chapters' runtimes and headline numbers, from
  the records ``tk.report(...)`` wrote to ``book/_results`` while the chapters ran. Sphinx is made to
  read this page *after* every chapter, whose execution (in ``make book``) writes those records.
- ``book/instructors``: ``{troika-exercise-table}`` becomes the list of every registered exercise,
  read from ``troikadl.grading``.
- ``book/intro``: ``{troika-learning-path}`` becomes the learning path: what each chapter builds on, and
  its runtime in this build. Like the status page, the intro is read after every chapter.
  ``{troika-course-map}`` becomes a figure of the same prerequisites (``troikadl.report.PREREQUISITES``),
  drawn by :func:`troikadl.figures.graph.course_map` into ``book/_generated`` when the build starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATUS_DOC = "book/status"
EXERCISES_DOC = "book/instructors"
INTRO_DOC = "book/intro"

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


def learning_path(srcdir: str) -> str:
    from troikadl.report import PREREQUISITES, load_results

    results_dir = os.environ.get("TROIKA_RESULTS_DIR") or str(Path(srcdir) / "book" / "_results")
    results = load_results(results_dir)
    titles = _chapter_titles(srcdir)
    rows = ["| Chapter | Builds on | Runtime in this build (budget) |", "|---|---|---|"]
    for chapter, title in titles.items():
        before = ", ".join(f"{int(c[:2])}" for c in PREREQUISITES.get(chapter, [])) or "—"
        r = results.get(chapter)
        runtime = (f"{r['runtime_s']:.0f} s ({r['budget_s']:.0f} s)" if r and "runtime_s" in r
                   else "not run in this build")
        rows.append(f"| {_link(chapter, title)} | {before} | {runtime} |")
    return "\n".join(rows) + "\n"


COURSE_MAP = "book/_generated/course_map.png"
COURSE_MAP_ALT = ("A diagram of the chapters as boxes with arrows from each chapter to the chapters that build "
                  "on it directly, from chapter 1 on the left to chapters 7, 10 and 11 on the right.")


def course_map(srcdir: str) -> str:
    """The intro's course-map figure (the PNG is drawn by :func:`_draw_course_map`)."""
    return (f"```{{figure}} {Path(COURSE_MAP).relative_to('book').as_posix()}\n:name: fig-course-map\n"
            f":alt: {COURSE_MAP_ALT}\n\nThe course map: an arrow from one chapter to another means the second "
            f"builds directly on the first (prerequisites of prerequisites are implied). Drawn from the same "
            f"data as the table below.\n```\n")


def _draw_course_map(app):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from troikadl.figures.graph import course_map as draw
    from troikadl.report import PREREQUISITES, SHORT_TITLES

    out = Path(app.srcdir) / COURSE_MAP
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = draw(PREREQUISITES, SHORT_TITLES)
    fig.savefig(out, dpi=100)
    plt.close(fig)


PLACEHOLDERS = {STATUS_DOC: [("{troika-status-table}", status_table)],
                EXERCISES_DOC: [("{troika-exercise-table}", exercise_table)],
                INTRO_DOC: [("{troika-learning-path}", learning_path), ("{troika-course-map}", course_map)]}


def _read_status_last(app, env, docnames):
    for doc in (INTRO_DOC, STATUS_DOC):  # after every chapter, whose execution writes the runtimes
        if doc in docnames:
            docnames.remove(doc)
            docnames.append(doc)


def _fill(app, docname, source):
    for marker, make in PLACEHOLDERS.get(docname, []):
        if marker in source[0]:
            source[0] = source[0].replace(marker, make(app.srcdir))


def _mathjax_offline(app):
    """Serve MathJax with the book (from the npm package `make install` puts in .venv), not from a CDN."""
    import sys

    static = Path(os.environ.get("TROIKA_MATHJAX_STATIC") or Path(sys.prefix) / "share" / "troika-static")
    if (static / "mathjax" / "tex-chtml-full.js").is_file():
        app.config.html_static_path = [*app.config.html_static_path, str(static)]
        app.config.mathjax_path = "mathjax/tex-chtml-full.js"
    else:
        from sphinx.util import logging

        logging.getLogger(__name__).info(f"MathJax not found in {static}: math will load from a CDN")


def _book_static(app):
    """The book's own stylesheet (book/_static; the source root is the repository, which has no _static)."""
    app.config.html_static_path = [*app.config.html_static_path, str(Path(__file__).resolve().parents[1] / "_static")]


def setup(app):
    app.connect("builder-inited", _book_static)
    app.connect("builder-inited", _mathjax_offline)
    app.connect("builder-inited", _draw_course_map)
    app.add_css_file("troika.css")
    app.connect("env-before-read-docs", _read_status_last)
    app.connect("source-read", _fill)
    return {"version": "0.2", "parallel_read_safe": False, "parallel_write_safe": True}
