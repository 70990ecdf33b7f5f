"""A strict, executed build of the book, checked in a real browser.

The build executes every notebook (as ``make book`` does), so that the browser check sees the figures a reader
sees: nbval has already checked that the notebooks run, this checks what they show. It takes about as long as
running the chapters once, on one of the test workers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from notebooks import CHAPTERS, NOTEBOOKS, ROOT, repository_url

pytestmark = pytest.mark.slow


def book_env(results: Path) -> dict[str, str]:
    """The build's environment: the chapters' records go to ``results``, and the kernels draw their figures
    inline, as a reader's do (conftest.py's MPLBACKEND=Agg, inherited, would make every ``plt.show()`` draw
    nothing, and the browser check would find no figures)."""
    return {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "TROIKA_RESULTS_DIR": str(results)}


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("book")
    cfg = yaml.safe_load((ROOT / "book/_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "force"
    # paths of local extensions are relative to the config file, which now lives elsewhere
    exts = cfg["sphinx"]["local_extensions"]
    cfg["sphinx"]["local_extensions"] = {k: str(ROOT / "book" / v) for k, v in exts.items()}
    config = tmp / "_config.yml"
    config.write_text(yaml.safe_dump(cfg))
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", ".", "--config", str(config), "--toc", "book/_toc.yml",
                           "--path-output", str(tmp), "-W", "-n", "--keep-going", "--all"],
                          cwd=ROOT, capture_output=True, text=True,
                          env=book_env(tmp / "results"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return tmp / "_build" / "html"


def test_book_has_the_pages(html):
    for page in ["index.html", "book/intro.html", "book/setup.html", "book/status.html",
                 "book/instructors.html"]:
        assert (html / page).is_file(), page
    for nb in CHAPTERS:
        assert (html / "chapters" / f"{nb.stem}.html").is_file()


def test_every_chapter_page_has_a_colab_button(html):
    repo = repository_url().removeprefix("https://github.com/")
    for nb in CHAPTERS:
        page = (html / "chapters" / f"{nb.stem}.html").read_text()
        link = f"https://colab.research.google.com/github/{repo}/blob/main/chapters/{nb.name}"
        assert link in page, f"no Colab button for {nb.name}"


def test_status_page_lists_every_chapter(html):
    page = (html / "book/status.html").read_text()
    assert "{troika-status-table}" not in page
    for nb in CHAPTERS:
        assert f"chapters/{nb.stem}.html" in page
    assert re.search(r"within budget|over budget", page)


def test_instructors_page_lists_every_exercise(html):
    from troikadl.grading import EXERCISES

    page = (html / "book/instructors.html").read_text()
    assert "{troika-exercise-table}" not in page
    for ex_id in EXERCISES:
        assert ex_id in page


def test_cell1_is_executed_but_not_shown_and_the_book_stylesheet_is_served(html):
    for nb in NOTEBOOKS:
        rel = nb.relative_to(ROOT).with_suffix(".html")
        page = (html / rel).read_text()
        assert "Cell 1: install" not in page and "TROIKA_VERSION" not in page, f"{rel} shows cell 1"
        assert "_static/troika.css" in page, f"{rel} lacks the book's stylesheet"
    assert "table.table" in (html / "_static" / "troika.css").read_text()


def test_solutions_are_folded_and_hidden_tests_removed(html):
    for nb in CHAPTERS:
        page = (html / "chapters" / f"{nb.stem}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in page
        if "BEGIN SOLUTION" in page:
            assert "tag_hide-input" in page


def test_every_page_in_a_real_browser(html):
    """Headless Chromium: math rendered offline, Colab buttons, internal links, figures that fit with captions and
    alt text, formulas and tables inside the column, CJK glyphs; screenshots saved."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "browser_check.py"), str(html), "--executed"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    shots = {p.name for p in (html / "_screenshots").glob("*.png")}
    assert {"intro.png", "deep-learning.png", "appendices.png", "diagram-graph.png", "diagram-convolution.png",
            "diagram-quantization.png"} <= shots, shots


def test_mathjax_is_served_with_the_book(html):
    page = (html / "chapters" / "06_attention.html").read_text()
    assert "_static/mathjax/tex-chtml-full.js" in page and "cdn.jsdelivr.net/npm/mathjax" not in page
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
