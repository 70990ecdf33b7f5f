"""Open every page of a built book in headless Chromium and check what a reader would see.

``python tests/browser_check.py book/_build/html [--executed]`` (``make check-html``). The book is served on
localhost; each page is loaded in headless Chromium with its JavaScript run (``--dump-dom`` after a virtual
time budget), and the rendered DOM is checked:

- math is rendered by MathJax (``mjx-container`` elements, no ``mjx-merror``), and MathJax is served with the
  book, not from a CDN;
- every chapter page has a Colab button pointing at its own notebook in the configured repository;
- every internal link resolves to a file of the build (and every ``#fragment`` to an id of that page);
- every figure fits: in a 1280-pixel-wide window, no display formula, Markdown table or image is wider
  than the text column (``book/_static/troika.css``), and no image is shown at under 90% of its natural
  width (its lettering would shrink below the size it was drawn at);
- with ``--executed``, every page shows the figures its source declares (the notebook cells with
  ``mystnb.figure`` metadata, the Markdown ``{figure}`` directives), each with a caption and alt text that is
  a sentence rather than a file name, none blank (an image of one colour); every image of a chapter is such
  a figure;
- CJK text is laid out with a CJK font (the glossary's Chinese terms have a non-zero width).

One screenshot per part of the book is saved under ``<html>/_screenshots``. Root needs ``--no-sandbox``;
the other flags stop Chromium's background network traffic (the machine has no network).
"""

from __future__ import annotations

import argparse
import functools
import html as html_lib
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]
SKIP = ("_static/", "_sources/", "_images/", "_screenshots/", "genindex.html", "search.html")
# One screenshot per part of the book (the toc's captions), plus the landing page, and three diagrams.
SCREENSHOTS = {"intro": "book/intro.html", "getting-started": "book/setup.html",
               "deep-learning": "chapters/06_attention.html", "architecture-search": "chapters/08_nas.html",
               "model-compression": "chapters/10_quantization.html", "multimodal-fusion": "chapters/11_fusion.html",
               "appendices": "book/errata.html", "about": "book/status.html",
               "diagram-graph": "chapters/02_backprop.html#fig-02-graph",
               "diagram-convolution": "chapters/04_cnn.html#fig-04-conv-sliding",
               "diagram-quantization": "chapters/10_quantization.html#fig-10-grid-asymmetric"}


def chromium() -> str:
    name = os.environ.get("CHROMIUM", "chromium")
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"{name} not found: install Debian's chromium (make browser) or set CHROMIUM")
    return path


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.images = 0
        self.scripts: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img":
            self.images += 1
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])


#: Appended to a page requested with ``?troika-measure``: once the images have loaded and MathJax has typeset,
#: the widths of what must fit the text column, as JSON: each Markdown table's and display formula's overflow
#: (scrollWidth minus the container's width), and each image of the article with its alt text, natural and
#: shown width, and its figure's caption.
MEASURE = b"""<script>
window.addEventListener('load', () =>
  (window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve()).then(() => {
    const art = document.querySelector('.bd-article') || document.body;
    const tables = [...art.querySelectorAll('table.table')].map(t => t.scrollWidth - t.parentElement.clientWidth);
    const math = [...art.querySelectorAll('mjx-container[display="true"]')].map(m => {
      const box = m.parentElement;
      const text = (box.previousElementSibling ? box.previousElementSibling.textContent : '').replace(/\\s+/g, ' ').trim().slice(-60);
      return [Math.round(m.firstElementChild.getBoundingClientRect().width - box.clientWidth), text];
    });
    const images = [...art.querySelectorAll('img')].map(i => {
      const fig = i.closest('figure');
      const cap = fig ? fig.querySelector('figcaption') : null;
      return {src: i.getAttribute('src'), alt: i.getAttribute('alt') || '', natural: i.naturalWidth,
              shown: i.getBoundingClientRect().width, figure: !!fig,
              caption: cap ? cap.textContent.trim() : ''};
    });
    const pad = getComputedStyle(art);
    const column = art.clientWidth - parseFloat(pad.paddingLeft) - parseFloat(pad.paddingRight);
    const out = {column: Math.round(column), tables: tables, math: math, images: images};
    const pre = document.createElement('pre');
    pre.id = 'troika-measure';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }));
</script></body>"""
WINDOW = 1280
#: Appended to a page requested with ``?troika-top=ID``: where the element ``ID`` (a figure) starts, in pixels.
TOP = b"""<script>
window.addEventListener('load', () => {
  const e = document.getElementById('ID');
  const pre = document.createElement('pre');
  pre.id = 'troika-measure';
  pre.textContent = e ? Math.round(e.getBoundingClientRect().top + window.scrollY) : -1;
  document.body.appendChild(pre);
});
</script></body>"""
REPO = Path(__file__).resolve().parents[1]


def _serve(root: Path) -> tuple[socketserver.TCPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            path, _, query = self.path.partition("?")
            if query == "troika-measure":
                script = MEASURE
            elif re.fullmatch(r"troika-top=[\w-]+", query):
                script = TOP.replace(b"ID", query.split("=")[1].encode())
            else:
                return super().do_GET()
            body = (root / unquote(path).lstrip("/")).read_bytes().replace(b"</body>", script, 1)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    handler = functools.partial(Quiet, directory=str(root))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _run(url: str, extra: list[str], timeout: float = 90) -> str:
    with tempfile.TemporaryDirectory(prefix="troika-chromium-") as profile:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=timeout)
    return proc.stdout


def rendered(url: str) -> str:
    """The page's DOM after its scripts ran (MathJax typesetting included)."""
    return _run(url, ["--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw", "--dump-dom"])


def screenshot(url: str, path: Path) -> None:
    """A WINDOW-wide screenshot of ``url``; for ``page.html#id``, of the 1,000 pixels from the element ``id`` on.

    (Headless Chromium draws a scrolled page blank, so the window is made tall enough and the shot cropped.)
    """
    page, _, target = url.partition("#")
    if not target:
        _run(url, ["--virtual-time-budget=15000", f"--window-size={WINDOW},1600", f"--screenshot={path}"])
        return
    from matplotlib.image import imread, imsave

    found = re.findall(r'<pre id="troika-measure"[^>]*>(-?\d+)</pre>',
                       _run(f"{page}?troika-top={target}", ["--virtual-time-budget=15000",
                                                             f"--window-size={WINDOW},1600", "--dump-dom"]))
    top = int(found[-1]) if found else -1
    if top < 0:
        return  # no such element: no screenshot, which the caller reports
    with tempfile.TemporaryDirectory() as tmp:
        tall = Path(tmp) / "tall.png"
        _run(page, ["--virtual-time-budget=15000", f"--window-size={WINDOW},{top + 1000}", f"--screenshot={tall}"])
        if tall.is_file():
            imsave(path, imread(tall)[max(0, top - 60):top + 1000])


def measure(url: str) -> tuple[str, dict]:
    """The page's DOM and the widths :data:`MEASURE` reports, in a window WINDOW pixels wide."""
    dom = _run(url + "?troika-measure", ["--virtual-time-budget=15000", f"--window-size={WINDOW},1600",
                                          "--run-all-compositor-stages-before-draw", "--dump-dom"])
    found = re.findall(r'<pre id="troika-measure"[^>]*>(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{url}: the measurement did not run")
    return dom, json.loads(html_lib.unescape(found[-1]))


def declared_figures(source: Path) -> int:
    """How many figures a page's source declares: notebook cells with a figure caption, Markdown figures."""
    if source.suffix == ".ipynb":
        cells = json.loads(source.read_text())["cells"]
        return sum(1 for c in cells if c["cell_type"] == "code" and c["metadata"].get("mystnb", {}).get("figure"))
    text = source.read_text()
    return text.count("```{figure}") + text.count("{troika-course-map}")


def is_blank(png: Path) -> bool:
    """True if the image is of (almost) one colour: fewer than 0.2% of its pixels differ from the corner's."""
    import numpy as np
    from matplotlib.image import imread

    img = imread(png)
    img = img[..., :3] if img.ndim == 3 else img
    differs = np.abs(img - img[0, 0]).reshape(img.shape[0], img.shape[1], -1).max(-1) > 0.02
    return differs.mean() < 0.002


def figure_problems(root: Path, rel: str, sizes: dict, *, executed: bool) -> list[str]:
    """What is wrong with the figures, formulas and tables of one measured page (see the module docstring)."""
    problems, column = [], sizes["column"]
    for over in sizes["tables"]:
        if over > 2:
            problems.append(f"{rel}: at {WINDOW} px a table is {over} px wider than the text column")
    for over, before in sizes["math"]:
        if over > 2:
            problems.append(f"{rel}: at {WINDOW} px a display formula (after '...{before}') is {over} px wider "
                            f"than the text column")
    for img in sizes["images"]:
        name = img["src"].rsplit("/", 1)[-1]
        if img["shown"] > column + 2:
            problems.append(f"{rel}: image {name} is {img['shown']:.0f} px wide, wider than the {column} px column")
        if img["natural"] and img["shown"] < 0.9 * img["natural"]:
            problems.append(f"{rel}: image {name} is shown at {img['shown'] / img['natural']:.0%} of its "
                            f"{img['natural']} px: draw it at most {column} px wide ({column / 100:.1f} in at 100 dpi)")
    if not executed:
        return problems
    source = next((p for p in ((REPO / rel).with_suffix(".ipynb"), (REPO / rel).with_suffix(".md")) if p.is_file()),
                  None)
    figures = [img for img in sizes["images"] if img["figure"]]
    want = declared_figures(source) if source else len(figures)
    shown = [img for img in figures if img["natural"] > 0]
    if len(shown) != want:
        problems.append(f"{rel}: {len(shown)} figure(s) shown, its source declares {want}")
    for img in sizes["images"]:
        name = img["src"].rsplit("/", 1)[-1]
        alt = img["alt"].strip()
        if rel.startswith("chapters/") and not img["figure"]:
            problems.append(f"{rel}: image {name} has no figure caption (give its cell mystnb.figure metadata)")
        if img["figure"] and not img["caption"]:
            problems.append(f"{rel}: figure {name} has an empty caption")
        if len(alt.split()) < 4 or re.search(r"\.(png|svg|jpe?g)$", alt):
            problems.append(f"{rel}: image {name} has alt text {alt[:50]!r}, not a sentence saying what it shows")
        png = (root / rel).parent / unquote(img["src"])
        if png.is_file() and png.suffix == ".png" and is_blank(png):
            problems.append(f"{rel}: image {name} is blank")
    return problems


def _repository(root: Path) -> str:
    cfg = (REPO / "book" / "_config.yml").read_text()
    return re.search(r"^\s*url:\s*https://github\.com/(\S+)", cfg, re.M).group(1)


def check_page(root: Path, rel: str, port: int, *, executed: bool, repo: str) -> list[str]:
    source = (root / rel).read_text()
    redirect = re.search(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', source, re.I)
    if redirect:  # the landing page only redirects (to the intro): check its target exists
        ok = ((root / rel).parent / redirect.group(1)).resolve().is_file()
        return [] if ok else [f"{rel}: redirects to a missing page {redirect.group(1)}"]
    html, sizes = measure(f"http://127.0.0.1:{port}/{rel}")
    problems = []
    if not html.strip():
        return [f"{rel}: Chromium returned no DOM"]
    page = _Page()
    page.feed(html)
    if re.search(r'class="math|\\\(|\$\$', source):
        if page.tags.get("mjx-container", 0) == 0:
            problems.append(f"{rel}: math is not rendered (no mjx-container)")
        if page.tags.get("mjx-merror", 0):
            problems.append(f"{rel}: MathJax reports {page.tags['mjx-merror']} error(s)")
        if any("mathjax" in s and s.startswith(("http:", "https:", "//")) for s in page.scripts):
            problems.append(f"{rel}: MathJax is loaded from the network")
    if rel.startswith("chapters/"):
        nb = Path(rel).stem
        want = f"https://colab.research.google.com/github/{repo}/blob/main/chapters/{nb}.ipynb"
        if want not in page.links:
            problems.append(f"{rel}: no Colab button pointing at {want}")
    problems += figure_problems(root, rel, sizes, executed=executed)
    for href in page.links:
        u = urlparse(href)
        if u.scheme or u.netloc or href.startswith(("mailto:", "javascript:")):
            continue
        target = (root / rel).parent / unquote(u.path) if u.path else root / rel
        if u.path.endswith("/") or target.is_dir():
            target = target / "index.html"
        if not target.resolve().is_file():
            problems.append(f"{rel}: broken link {href}")
        elif u.fragment and target.suffix == ".html" and target.resolve() == (root / rel).resolve():
            if u.fragment not in page.ids:
                problems.append(f"{rel}: link to a missing anchor #{u.fragment}")
    return problems


def cjk_width(port: int) -> float:
    """Width in pixels of a Chinese term of the glossary, as laid out by Chromium (0 without CJK glyphs)."""
    probe = ('<html><body><span id="t" style="font-size:20px">反向传播 神经架构搜索</span><script>'
             'document.title = document.getElementById("t").getBoundingClientRect().width</script></body></html>')
    return float(re.search(r"<title>([\d.]+)</title>", rendered("data:text/html;charset=utf-8," + probe)).group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. book/_build/html")
    parser.add_argument("--executed", action="store_true", help="also require plots on every chapter page")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    root = args.html.resolve()
    if not (root / "index.html").is_file():
        raise SystemExit(f"{root} is not a built book (no index.html)")
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                   if not p.relative_to(root).as_posix().startswith(SKIP))
    server, port = _serve(root)
    repo = _repository(root)
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda rel: check_page(root, rel, port, executed=args.executed, repo=repo), pages))
        problems = [p for r in results for p in r]
        width = cjk_width(port)
        if width < 100:
            problems.append(f"CJK text is {width:.0f} px wide: is a CJK font (fonts-noto-cjk) installed?")
        shots = root / "_screenshots"
        shots.mkdir(exist_ok=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda kv: screenshot(f"http://127.0.0.1:{port}/{kv[1]}", shots / f"{kv[0]}.png"),
                          [kv for kv in SCREENSHOTS.items() if (root / kv[1].split("#")[0]).is_file()]))
        saved = sorted(p.name for p in shots.glob("*.png") if p.stat().st_size > 10_000)
    finally:
        server.shutdown()
    report = {"pages": len(pages), "problems": problems, "screenshots": saved, "cjk_width_px": width}
    (root / "_screenshots" / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"{len(pages)} pages checked in Chromium; {len(saved)} screenshots in {shots}")
    for p in problems:
        print("  PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
