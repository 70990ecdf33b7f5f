"""Installing the companion: it changes nothing in the pinned environment, and its wheel is complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from notebooks import ROOT

pytestmark = pytest.mark.slow
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def test_installing_the_companion_changes_nothing_but_itself(tmp_path):
    """`pip install ./companion` (with its dependencies) into the pinned env would only add troika-dl."""
    report = tmp_path / "report.json"
    subprocess.run(PIP + ["install", "--dry-run", "--quiet", "--no-build-isolation", "--ignore-installed",
                          "--no-deps", "--report", str(report), str(ROOT / "companion")], check=True)
    subprocess.run(PIP + ["install", "--dry-run", "--quiet", "--no-build-isolation",
                          "--report", str(report), str(ROOT / "companion")], check=True)
    installs = json.loads(report.read_text())["install"]
    names = sorted(item["metadata"]["name"] for item in installs)
    assert names == ["troika-dl"], f"installing the companion would also change {names}"


def test_built_wheel_installs_and_imports_without_the_source_tree(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(PIP + ["wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                          str(ROOT / "companion")], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("troika_dl-*.whl")
    listed = zipfile.ZipFile(wheel).namelist()
    assert "troikadl/py.typed" in listed
    assert "troikadl/nas/digits_cnn.csv" in listed, "chapter 8's benchmark table must ship in the wheel"
    assert "troikadl/compress/lottery.csv" in listed, "chapter 9's lottery-ticket table must ship in the wheel"
    assert not any(n.startswith(("tests/", "troikadl/grading/hidden")) for n in listed)
    site = tmp_path / "site"
    subprocess.run(PIP + ["install", "--quiet", "--no-deps", "--target", str(site), str(wheel)], check=True)
    code = ("import troikadl, importlib.resources as r; "
            "print(troikadl.__file__); print(r.files('troikadl').joinpath('py.typed').is_file()); "
            "troikadl.setup(0); print(troikadl.neuron.sigmoid(0.0)); "
            "print(troikadl.nas.benchmark.Table.load().val.shape[0])")
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env, cwd=tmp_path).stdout.split()
    assert out[0].startswith(str(site)), f"imported {out[0]}, not the installed wheel"
    assert out[1:] == ["True", "0.5", "144"]
