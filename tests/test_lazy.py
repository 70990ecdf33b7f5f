"""`import troikadl` stays light: topic modules (some import torch at their top) load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import sys, troikadl as tk, troikadl.nas as nas
print('torch' in sys.modules, 'troikadl.rnn' in sys.modules, 'troikadl.nas.darts' in sys.modules)
print(tk.rnn is sys.modules['troikadl.rnn'], nas.darts is sys.modules['troikadl.nas.darts'])
print('rnn' in dir(tk), 'darts' in dir(nas))
"""


def test_topic_modules_load_on_first_use():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", "True", "True", "True", "True"], out


def test_an_unknown_name_is_an_attribute_error():
    import troikadl
    import troikadl.nas

    with pytest.raises(AttributeError, match="module 'troikadl' has no attribute 'rnnn'"):
        troikadl.rnnn  # noqa: B018
    with pytest.raises(AttributeError, match="module 'troikadl.nas' has no attribute 'dart'"):
        troikadl.nas.dart  # noqa: B018
