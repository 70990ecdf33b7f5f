"""Notebook hygiene shared by the tests and `make strip-notebooks`.

- Notebooks are committed without outputs or execution counts.
- Cell 1 of every chapter installs the companion from ``repository.url`` in book/_config.yml, at the
  tag ``v<troikadl.__version__>``, only when it is missing or older, and imports it. It is tagged
  ``remove-cell``: executed everywhere, not shown in the HTML book. A chapter that uses an optional extra
  (TensorFlow/Keras, or Hugging Face) checks for it there with ``tk.require``, which prints the one
  command that installs what is missing.

Run ``python tests/notebooks.py --fix`` to strip outputs and rewrite cell 1 from the template.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
#: Every notebook of the book: the chapters and the executed appendix (the errata).
NOTEBOOKS = [*CHAPTERS, ROOT / "book" / "errata.ipynb"]

CELL1_TEMPLATE = '''\
# Cell 1: install the course's companion package, only if it is missing or older than this book.
# (Colab needs this; a local set-up from the repository already has it.) Never upgrades anything else.
import importlib.metadata, re, subprocess, sys
TROIKA_VERSION = "{version}"
try:
    _have = importlib.metadata.version("troika-dl")
except importlib.metadata.PackageNotFoundError:
    _have = None
if _have is None or [int(p) for p in re.findall(r"\\d+", _have)[:3]] < [int(p) for p in TROIKA_VERSION.split(".")]:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    f"troika-dl @ git+{url}@v{{TROIKA_VERSION}}#subdirectory=companion"],
                   check=True)
import troikadl as tk{require}'''

#: Optional packages a notebook needs, found in its code cells (name -> what shows the need).
OPTIONAL = {("tensorflow", "keras"): r"import_tf\(|import keras|import tensorflow",
            ("transformers", "tokenizers"): r"import transformers|from transformers|import tokenizers|from tokenizers"
                                  r"|to_hf_gpt2|from_hf_gpt2|to_hf_vit|reference_models\(|meta_parameters\("}


#: Cell 1 runs in Colab, Jupyter and the book's execution, but the HTML book does not show it (the setup page
#: explains it): readers see the chapter's title first.
CELL1_TAG = "remove-cell"


def package_version() -> str:
    text = (ROOT / "companion/src/troikadl/__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def repository_url() -> str:
    import yaml

    cfg = yaml.safe_load((ROOT / "book/_config.yml").read_text())
    return cfg["repository"]["url"]


def needs(nb: dict) -> list[str]:
    """The optional packages whose use shows in the notebook's code cells (cell 1 aside)."""
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"][1:]
    code = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)
    return [p for group, pattern in OPTIONAL.items() if re.search(pattern, code) for p in group]


def expected_cell1(nb: dict | None = None) -> str:
    packages = needs(nb) if nb is not None else []
    require = f"\ntk.require({', '.join(repr(p) for p in packages)})" if packages else ""
    return CELL1_TEMPLATE.format(version=package_version(), url=repository_url(), require=require)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def fix(path: Path) -> bool:
    """Strip outputs and counts, rewrite cell 1; return True if the file changed."""
    before = path.read_text()
    nb = json.loads(before)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for c in code:
        c["outputs"] = []
        c["execution_count"] = None
    if code:
        code[0]["source"] = expected_cell1(nb).splitlines(keepends=True)
        tags = code[0].setdefault("metadata", {}).setdefault("tags", [])
        if CELL1_TAG not in tags:
            tags.append(CELL1_TAG)
    after = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if after != before:
        path.write_text(after)
        return True
    return False


if __name__ == "__main__":
    if "--fix" in sys.argv:
        for p in NOTEBOOKS:
            print(("fixed   " if fix(p) else "clean   ") + str(p.relative_to(ROOT)))
    else:
        print(__doc__)
