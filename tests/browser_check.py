"""Open every page of a built book in headless Chromium and check what a reader would see.

``python tests/browser_check.py book/_build/html [--executed]`` (``make check-html``). The book is served on
localhost; each page is loaded in headless Chromium with its JavaScript run (``--dump-dom`` after a virtual
time budget), and the rendered DOM is checked:

- math is rendered by MathJax (``mjx-container`` elements, no ``mjx-merror``), and MathJax is served with the
  book, not from a CDN;
- every chapter page has a Colab button pointing at its own notebook in the configured repository;
- every internal link resolves to a file of the build (and every ``#fragment`` to an id of that page);
- with ``--executed``, every chapter page shows its plots;
- CJK text is laid out with a CJK font (the glossary's Chinese terms have a non-zero width);
- in a 1280-pixel-wide window, no Markdown table is wider than the text column (``book/_static/troika.css``).

One screenshot per part of the book is saved under ``<html>/_screenshots``. Root needs ``--no-sandbox``;
the other flags stop Chromium's background network traffic (the machine has no network).
"""

from __future__ import annotations

import argparse
import functools
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
# One screenshot per part of the book (the toc's captions), plus the landing page.
SCREENSHOTS = {"intro": "book/intro.html", "getting-started": "book/setup.html",
               "deep-learning": "chapters/06_attention.html", "architecture-search": "chapters/08_nas.html",
               "model-compression": "chapters/10_quantization.html", "multimodal-fusion": "chapters/11_fusion.html",
               "appendices": "book/errata.html", "about": "book/status.html"}


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


#: Appended to a page requested with ``?troika-measure``: once MathJax has typeset, how many pixels each
#: Markdown table of the article overflows its column by (scrollWidth minus the container's width).
MEASURE = b"""<script>
window.addEventListener('load', () =>
  (window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve()).then(() => {
    const over = [...document.querySelectorAll('.bd-article table.table')]
      .map(t => t.scrollWidth - t.parentElement.clientWidth);
    document.body.insertAdjacentHTML('beforeend', '<pre id="troika-measure">' + over.join(' ') + '</pre>');
  }));
</script></body>"""
WINDOW = 1280


def _serve(root: Path) -> tuple[socketserver.TCPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            path, _, query = self.path.partition("?")
            if query != "troika-measure":
                return super().do_GET()
            body = (root / unquote(path).lstrip("/")).read_bytes().replace(b"</body>", MEASURE, 1)
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
    _run(url, ["--virtual-time-budget=15000", f"--window-size={WINDOW},1600", f"--screenshot={path}"])


def table_overflow(url: str) -> list[int]:
    """Pixels by which each Markdown table overflows the text column, in a window WINDOW pixels wide."""
    dom = _run(url + "?troika-measure", ["--virtual-time-budget=15000", f"--window-size={WINDOW},1600",
                                          "--dump-dom"])
    found = re.search(r'<pre id="troika-measure"[^>]*>([-\d ]*)</pre>', dom)
    if found is None:
        raise RuntimeError(f"{url}: the table measurement did not run")
    return [int(v) for v in found.group(1).split()]


def _repository(root: Path) -> str:
    cfg = (Path(__file__).resolve().parents[1] / "book" / "_config.yml").read_text()
    return re.search(r"^\s*url:\s*https://github\.com/(\S+)", cfg, re.M).group(1)


def check_page(root: Path, rel: str, port: int, *, executed: bool, repo: str) -> list[str]:
    source = (root / rel).read_text()
    redirect = re.search(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', source, re.I)
    if redirect:  # the landing page only redirects (to the intro): check its target exists
        ok = ((root / rel).parent / redirect.group(1)).resolve().is_file()
        return [] if ok else [f"{rel}: redirects to a missing page {redirect.group(1)}"]
    html = rendered(f"http://127.0.0.1:{port}/{rel}")
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
        if executed and page.images == 0:
            problems.append(f"{rel}: no plots (is this an executed build?)")
    if 'class="table"' in source:
        worst = max(table_overflow(f"http://127.0.0.1:{port}/{rel}"), default=0)
        if worst > 2:
            problems.append(f"{rel}: at {WINDOW} px a table is {worst} px wider than the text column")
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
                          [kv for kv in SCREENSHOTS.items() if (root / kv[1]).is_file()]))
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
