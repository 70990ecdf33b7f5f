"""tk.require: cell 1's check of the optional packages a chapter uses (issue #22)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import troikadl as tk


def test_require_is_quiet_when_everything_is_there(capsys):
    assert tk.require("tensorflow", "keras", "transformers", "tokenizers") == []  # the course's pins have them
    assert capsys.readouterr().out == ""


def test_require_refuses_names_outside_the_extras():
    for bad in ("torch", "tensorflow-gpu", "", 3):
        with pytest.raises(ValueError, match="packages must name packages of troika-dl's optional extras"):
            tk.require(bad)


def _fake_site(tmp_path, keras_version):
    """A site folder whose troika-dl metadata asks for keras>=3.0 and tensorflow>=2.16, holding an old keras."""
    site = tmp_path / "site"
    meta = site / "troika_dl-9.9.9.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: troika-dl\nVersion: 9.9.9\n"
                                   'Requires-Dist: numpy>=1.26\nRequires-Dist: tensorflow>=2.16; extra == "tf"\n'
                                   'Requires-Dist: keras>=3.0; extra == "tf"\nRequires-Dist: nothere-pkg>=1.0; extra == "x"\n')
    (site / "keras").mkdir()
    (site / "keras" / "__init__.py").write_text("")
    kmeta = site / f"keras-{keras_version}.dist-info"
    kmeta.mkdir()
    (kmeta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: keras\nVersion: {keras_version}\n")
    (kmeta / "top_level.txt").write_text("keras\n")
    return site


@pytest.mark.parametrize("keras_version, expected", [("2.15.0", ["keras>=3.0"]), ("3.0", []), ("3.10.1", [])])
def test_require_names_what_is_missing_or_too_old_and_the_command(tmp_path, keras_version, expected):
    site = _fake_site(tmp_path, keras_version)
    code = ("import troikadl as tk\nprint(repr(tk.require('keras', 'tensorflow')))\n"
            "print(repr(tk.require('nothere-pkg')))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert repr(expected) in lines and "['nothere-pkg>=1.0']" in lines, out.stdout
    assert "%pip install 'nothere-pkg>=1.0'" in out.stdout and "optional extra 'x'" in out.stdout
    if expected:
        assert "%pip install 'keras>=3.0'" in out.stdout and "optional extra 'tf'" in out.stdout
    else:
        assert "keras>=3.0" not in out.stdout
