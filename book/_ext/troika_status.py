"""Sphinx extension: fill the status page from the results the chapters' runs wrote.

Each chapter ends with ``tk.report(...)``, which writes ``book/_results/<chapter>.json`` when the
notebook runs under ``make book`` or ``make test``. This extension makes Sphinx read the status page
*after* every chapter (whose execution writes those files), then replaces the ``{troika-status-table}``
placeholder with the table rendered by :func:`troikadl.report.status_markdown`.
"""

from __future__ import annotations

import os
from pathlib import Path

STATUS_DOC = "book/status"
PLACEHOLDER = "{troika-status-table}"


def _chapters(app):
    """(chapter id, title) for every chapter notebook in the table of contents, in order."""
    root = Path(app.srcdir)
    out = []
    for nb in sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb")):
        import json

        cells = json.loads(nb.read_text())["cells"]
        title = nb.stem
        for c in cells:
            if c["cell_type"] == "markdown":
                for line in "".join(c["source"]).splitlines():
                    if line.startswith("# "):
                        title = line[2:].strip()
                        break
                if title != nb.stem:
                    break
        out.append((nb.stem, f"[{title}](../chapters/{nb.stem}.ipynb)"))
    return out


def _read_status_last(app, env, docnames):
    if STATUS_DOC in docnames:
        docnames.remove(STATUS_DOC)
        docnames.append(STATUS_DOC)


def _fill(app, docname, source):
    if docname != STATUS_DOC or PLACEHOLDER not in source[0]:
        return
    from troikadl.report import load_results, status_markdown

    results_dir = os.environ.get("TROIKA_RESULTS_DIR") or str(Path(app.srcdir) / "book" / "_results")
    table = status_markdown(load_results(results_dir), _chapters(app))
    source[0] = source[0].replace(PLACEHOLDER, table)


def setup(app):
    app.connect("env-before-read-docs", _read_status_last)
    app.connect("source-read", _fill)
    return {"version": "0.1", "parallel_read_safe": False, "parallel_write_safe": True}
