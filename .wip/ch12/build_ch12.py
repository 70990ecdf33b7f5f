"""Assemble chapters/12_scale.ipynb from the cells below (scaffolding for issue #29; delete before merging)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
import notebooks  # noqa: E402

from ch12_cells import CELLS  # noqa: E402


def cell(kind, source, meta=None):
    c = {"cell_type": kind, "metadata": meta or {}, "source": source.strip("\n").splitlines(True)}
    if kind == "code":
        c.update(outputs=[], execution_count=None)
    return c


import hashlib

cells = [cell("code", "# cell 1 placeholder")] + [cell(*c) for c in CELLS]
for i, c in enumerate(cells):
    c["id"] = hashlib.sha1(f"12_scale {i}".encode()).hexdigest()[:8]
nb = {"cells": cells,
      "metadata": json.loads((ROOT / "chapters/06_attention.ipynb").read_text())["metadata"],
      "nbformat": 4, "nbformat_minor": 5}
path = ROOT / "chapters/12_scale.ipynb"
path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
notebooks.fix(path)
print("wrote", path)
