"""Shared test configuration: Agg backend, quiet runs, and a runtime summary of the chapters."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TROIKA_QUIET", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure after each test that drew one (figures left open leak memory)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds, installs or other tests that take minutes")
    config.addinivalue_line("markers", "tf: needs TensorFlow (imported lazily, 8-14 s)")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After a run that executed chapters, print their runtimes against their budgets."""
    results_dir = os.environ.get("TROIKA_RESULTS_DIR")
    if not results_dir or hasattr(config, "workerinput"):
        return
    from troikadl.report import load_results

    results = load_results(results_dir)
    if not results:
        return
    tr = terminalreporter
    tr.section("chapter runtimes (tk.report)")
    for chap, rec in sorted(results.items()):
        flag = "OVER BUDGET" if rec["runtime_s"] > rec["budget_s"] else "ok"
        nums = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in rec["numbers"].items())
        tr.write_line(f"{chap}: {rec['runtime_s']:.1f} s / {rec['budget_s']:.0f} s {flag}  {nums}")
