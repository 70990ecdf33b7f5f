"""The repository's conventions: clean notebooks, cell 1, pins, layout, docstrings."""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib

import pytest
import yaml

import troikadl
from notebooks import CELL1_TAG, CHAPTERS, NOTEBOOKS, ROOT, expected_cell1, load

DOWNLOADS = re.compile(r"\bget_dataset\(|\bfetch_[a-z0-9_]+\(|\.load_data\(|download=True|urlretrieve|"
                       r"requests\.get|from_pretrained\(")


def code_cells(nb):
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_chapters():
    assert CHAPTERS, "no chapters/NN_slug.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = load(path)
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code":
            assert c["outputs"] == [], f"cell {i} has outputs: run `make strip-notebooks`"
            assert c["execution_count"] is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cell1_installs_the_book_version_from_the_configured_repository(path):
    first = code_cells(load(path))[0]
    assert first == expected_cell1(load(path)), "cell 1 differs from the template: run `make strip-notebooks`"
    meta = next(c for c in load(path)["cells"] if c["cell_type"] == "code")["metadata"]
    assert CELL1_TAG in meta.get("tags", []), "cell 1 runs everywhere but is not shown in the book"
    install = first[first.index("subprocess.run("):first.index("check=True")]
    assert "-U" not in install.split() and "--upgrade" not in install
    assert "torch" not in install and "tensorflow" not in install


def test_cell1_checks_the_optional_packages_a_chapter_uses():
    """Cell 1 names TensorFlow where a chapter imports it, Hugging Face where it uses it, and nothing else."""
    from notebooks import needs

    found = {p.stem: needs(load(p)) for p in NOTEBOOKS}
    assert found["04_cnn"] == ["tensorflow", "keras"] and found["07_bert"] == ["transformers", "tokenizers"]
    assert found["08_nas"] == [] and found["09_compression"] == []
    assert "tk.require('tensorflow', 'keras')" in expected_cell1(load(NOTEBOOKS[0]))
    assert "tk.require" not in expected_cell1({"cells": [{"cell_type": "code", "source": ["x = 1"]}] * 2})


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_follows_the_pattern(path):
    code = "\n".join(code_cells(load(path)))
    assert "tk.setup(" in code
    assert re.search(rf'tk\.report\(\s*"{path.stem}"', code), "the chapter must report under its file name"
    assert re.search(r"^assert\b", code, re.M), "the chapter needs checkpoint asserts"
    assert ".cuda()" not in code, "use the runtime's device, not .cuda()"
    assert not DOWNLOADS.search(code), "chapters must not download data or weights"
    assert "import tensorflow" not in code, "import TensorFlow through tk.import_tf()"


def test_toc_lists_every_chapter():
    toc = (ROOT / "book/_toc.yml").read_text()
    listed = re.findall(r"file:\s*(chapters/\S+)", toc)
    assert sorted(listed) == [f"chapters/{p.stem}" for p in CHAPTERS]


def test_requirements_are_exact_pins():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    for ln in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+\-]*", ln), f"not an exact pin: {ln}"
    names = {ln.split("==")[0].lower() for ln in lines}
    assert {"torch", "tensorflow-cpu", "keras", "jupyter-book", "nbval"} <= names


def test_environment_yml_installs_the_same_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-r requirements.txt" in pip
    # nothing else may be pinned there, or the two set-ups could drift
    assert all(p.startswith("-r ") or p.startswith("-e ") for p in pip), pip
    assert all(isinstance(d, dict) or d.split("=")[0] in ("python", "pip") for d in deps)


def test_companion_metadata_uses_ranges_and_keeps_tensorflow_optional():
    meta = tomllib.loads((ROOT / "companion/pyproject.toml").read_text())["project"]
    assert meta["name"] == "troika-dl"
    for dep in meta["dependencies"]:
        assert "==" not in dep, f"use a range, not a pin, in the companion: {dep}"
        assert not dep.startswith("tensorflow"), "TensorFlow must stay optional"
    everything = " ".join(meta["dependencies"] + sum(meta["optional-dependencies"].values(), []))
    assert "tensorflow-cpu" not in everything, "Colab ships `tensorflow`: never depend on tensorflow-cpu"
    assert meta["dynamic"] == ["version"], "the version lives in one place: troikadl.__version__"


TOPIC_MODULES = ["neuron", "data.tabular", "twins", "plot", "train", "report", "runtime",
                 "nas.space", "nas.benchmark", "nas.search", "nas.analysis", "nas.darts",
                 "compress.prune", "compress.lowrank", "compress.distill", "compress.measure", "compress.quantize",
                 "compress.deploy", "fusion.models", "fusion.contrastive", "data.vqa", "data.shapes",
                 "grading.assign", "grading.autograde", "regularization", "initialization", "memory",
                 "architectures", "normalization", "resnet", "data.augment", "rnn.cells", "rnn.frameworks",
                 "rnn.stacked", "rnn.training",
                 "language_model.text", "language_model.char_rnn", "language_model.evaluation",
                 "language_model.sampling", "data.translation", "transformer.seq2seq", "transformer.generation", "transformer.rope",
                 "transformer.encoder", "transformer.gpt", "transformer.hf",
                 "figures.decoder", "figures.scale", "scaling.counting", "scaling.memory", "scaling.sweep",
                 "scaling.fit", "scaling.distributed", "nas.proxies", "nas.multifidelity", "nas.networks", "nas.oneshot",
                 "bert.pairs", "bert.evaluation", "bert.ablation", "bert.keras_model",
                 "compress.calibrate", "compress.channels", "compress.groupwise", "compress.llm_int8",
                 "compress.lottery", "compress.nm", "compress.precision", "compress.qat", "figures.sparsity",
                 "figures.formats", "compress.observers", "vit", "figures.vision", "figures.multimodal",
                 "fusion.zeroshot", "fusion.captioning", "fusion.late", "fusion.prefix", "data.scenes",
                 "language_model.bleu", "figures.lowbit", "figures.supernet", "figures.tokenizers"]


@pytest.mark.parametrize("name", TOPIC_MODULES)
def test_public_functions_name_the_chapter_that_teaches_them(name):
    mod = importlib.import_module(f"troikadl.{name}")
    module_says = "chapter" in (mod.__doc__ or "").lower()
    for attr in mod.__all__:
        obj = getattr(mod, attr)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            doc = (obj.__doc__ or "").lower()
            assert obj.__doc__, f"troikadl.{name}.{attr} has no docstring"
            assert module_says or "chapter" in doc, f"troikadl.{name}.{attr}: say which chapter teaches it"


def test_modules_stay_small():
    for py in (ROOT / "companion/src/troikadl").rglob("*.py"):
        n = py.read_text().count("\n")
        assert n <= 400, f"{py.relative_to(ROOT)} has {n} lines: split it by concept"
        assert not DOWNLOADS.search(py.read_text()), f"{py.name} looks like it downloads"


def test_version_is_in_one_place():
    assert re.fullmatch(r"\d+\.\d+\.\d+", troikadl.__version__)
    assert f'"{troikadl.__version__}"' in expected_cell1()


def test_assignments_install_from_the_same_repository_as_cell_1():
    from notebooks import repository_url
    from troikadl.grading.assign import REPOSITORY

    assert REPOSITORY == repository_url()


def _commands() -> list[str]:
    src = ROOT / "companion/src"
    return sorted(".".join(py.relative_to(src).with_suffix("").parts) for py in (src / "troikadl").rglob("*.py")
                  if 'if __name__ == "__main__":' in py.read_text())


def test_there_are_commands():
    assert {"troikadl.scaling.sweep", "troikadl.scaling.distributed", "troikadl.nas.benchmark"} <= set(_commands())


@pytest.mark.parametrize("module", _commands())
def test_every_command_runs_without_a_runpy_warning(module):
    """``python -m troikadl.x.y`` warns (RuntimeWarning) when ``troikadl.x`` has already imported ``y``."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", module, "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr[-2000:]
