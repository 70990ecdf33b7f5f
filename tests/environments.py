"""The course in two other environments: Colab's (newest versions) and the oldest the package allows.

Not part of ``make test``: the versions it installs move. Run it before every release (README).

``python tests/environments.py colab``  (``make test-colab``)
    A fresh environment made like Google Colab's: Python 3.12 and the newest torch (the regular build,
    which brings triton), full ``tensorflow``, keras, transformers, numpy, scikit-learn and matplotlib the
    package index serves. The companion is then installed from its wheel, without extras, by the command
    cell 1 runs in Colab (only the requirement differs: the wheel instead of the Git tag). It reports what
    that install added or changed, and fails if it touched torch, TensorFlow, Keras or numpy. It then runs
    the tests that need this environment and executes every chapter and the errata page, one at a time.
    The weekly ``colab.yml`` workflow runs this same script.

``python tests/environments.py oldest``  (``make test-oldest``)
    A fresh environment holding exactly the lower bounds of ``companion/pyproject.toml`` (its
    dependencies and its ``tf`` and ``bert`` extras) on the oldest Python it accepts, with the test tools
    of requirements.txt; it runs the unit tests and executes every notebook. A range that is not tested
    is not a promise.

Each prints a table of results and times and writes it as JSON (``--json``); ``--record`` also writes
the versions and results into the book's status page (between its ``environments`` markers).
Environments are kept in ``.envs/<name>`` (git-ignored); ``--fresh`` rebuilds one.

pip's own configuration files are ignored for these installs (``PIP_CONFIG_FILE=/dev/null``): the
course's development machines cap torch at the release stored on their disk, and an environment that
inherits the cap tests an older torch than Colab's. (An empty ``PIP_CONSTRAINT`` does not lift it.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from notebooks import NOTEBOOKS, package_version  # noqa: E402

#: What Colab preinstalls that the course uses, plus what runs the notebooks (Colab has all of these).
COLAB_PACKAGES = ["torch", "tensorflow", "keras", "transformers", "tokenizers", "numpy", "scikit-learn",
                  "matplotlib", "tqdm", "pandas", "ipywidgets", "ipykernel", "nbclient", "nbformat", "pytest"]
COLAB_PYTHON = "3.12"
#: The companion's install must never change these.
PROTECTED = ["torch", "tensorflow", "keras", "numpy"]
#: Shown in the report, in this order.
SHOWN = ["torch", "triton", "tensorflow", "tensorflow-cpu", "keras", "numpy", "transformers", "tokenizers",
         "scikit-learn", "matplotlib", "optuna", "onnx", "onnxscript", "onnxruntime", "ai-edge-litert",
         "mnist1d", "troika-dl"]
#: The test tools of the oldest environment, at the versions requirements.txt pins.
TEST_TOOLS = ["pytest", "pytest-xdist", "hypothesis", "nbval", "nbgrader", "ipykernel", "setuptools"]
#: Left out of the oldest environment's unit tests: they check the book's sources with the book's own tools
#: (pybtex comes with jupyter-book), not the package.
BOOK_TESTS = ["tests/test_references.py"]
#: Tests that need this environment specifically (the Colab-like one has no test tools but pytest).
COLAB_TESTS = ["tests/test_runtime.py"]

_EXECUTE = r'''
import json, re, sys, time
import nbformat
from nbclient import NotebookClient
path, timeout = sys.argv[1], float(sys.argv[2])
nb = nbformat.read(path, as_version=4)
start = time.perf_counter()
try:
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": path.rpartition("/")[0]}}).execute()
    ok, message = True, ""
except Exception as exc:
    ok, message = False, re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}")[-1500:]
from jupyter_client.kernelspec import KernelSpecManager
kernel = KernelSpecManager().get_kernel_spec("python3").argv[0]
if kernel not in ("python", "python3", sys.executable):  # jupyter_client runs "python" as sys.executable
    ok, message = False, f"the python3 kernel is {kernel}, not this environment's Python; " + message
print(json.dumps({"ok": ok, "seconds": round(time.perf_counter() - start, 1), "message": message}))
'''


def cell1_install_command() -> list[str]:
    """The arguments cell 1 passes to ``python -m pip`` before its requirement (a test checks they agree)."""
    return ["install", "-q"]


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_CONSTRAINT", "VIRTUAL_ENV", "PYTHONPATH"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def kernel_env() -> dict[str, str]:
    """What a learner's kernel sees: none of the Makefile's TensorFlow settings, quiet progress bars."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TF_", "TROIKA_", "PYTEST", "VIRTUAL_ENV", "PYTHONPATH", "JUPYTER"))}
    env.update(TROIKA_QUIET="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    env["JUPYTER_DATA_DIR"] = tempfile.mkdtemp(prefix="troika-jupyter-")  # only the environment's own kernel
    return env


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def find_python(version: str) -> str:
    if shutil.which(f"python{version}"):
        return shutil.which(f"python{version}")
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python{version}"))
    if candidates:
        return str(candidates[-1])
    raise SystemExit(f"needs Python {version} (python{version} on PATH or under ~/.pyenv/versions)")


def freeze(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], env=pip_env(),
                         capture_output=True, text=True, check=True).stdout
    return {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in json.loads(out)}


def make_venv(path: Path, python_version: str, fresh: bool) -> Path:
    if fresh and path.exists():
        shutil.rmtree(path)
    py = path / "bin" / "python"
    if not py.exists():
        run([find_python(python_version), "-m", "venv", str(path)])
    return py


def build_wheel(python: Path, out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    run([str(python), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT / "companion")],
        env=pip_env())
    (wheel,) = out.glob("troika_dl-*.whl")
    return wheel


def lower_bounds() -> tuple[str, list[str]]:
    """(oldest Python, ``name==version`` for every dependency and extra) from companion/pyproject.toml."""
    import tomllib

    project = tomllib.loads((ROOT / "companion" / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = []
    for req in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*", req)
        if not m:
            raise SystemExit(f"pyproject.toml: every requirement needs a lower bound (name>=version), got {req!r}")
        pins.append(f"{m.group(1)}=={m.group(2)}")
    py = re.fullmatch(r">=\s*(3\.\d+)", project["requires-python"].strip())
    if not py:
        raise SystemExit(f"requires-python must read '>=3.N', got {project['requires-python']!r}")
    return py.group(1), pins


def pinned(names: list[str]) -> list[str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            pins[m.group(1).lower()] = line.strip()
    return [pins.get(n, n) for n in names]


def execute_notebooks(python: Path, timeout: float) -> list[dict]:
    results = []
    for nb in NOTEBOOKS:
        rel = nb.relative_to(ROOT).as_posix()
        print(f"executing {rel} ...", flush=True)
        proc = subprocess.run([str(python), "-c", _EXECUTE, str(nb), str(timeout)], env=kernel_env(),
                              capture_output=True, text=True, cwd=nb.parent)
        try:
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            rec = {"ok": False, "seconds": None, "message": (proc.stderr or proc.stdout)[-1500:]}
        rec["notebook"] = rel
        print(f"  {'passed' if rec['ok'] else 'FAILED'} in {rec['seconds']} s {rec['message'][-600:]}", flush=True)
        results.append(rec)
    return results


def colab(args: argparse.Namespace) -> dict:
    py = make_venv(args.dir / "colab", COLAB_PYTHON, args.fresh)
    run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], env=pip_env())
    # The newest releases, as Colab would have them (an existing environment is brought up to date).
    run([str(py), "-m", "pip", "install", "-q", "--upgrade", *COLAB_PACKAGES], env=pip_env())
    before = freeze(py)
    wheel = build_wheel(py, args.dir / "wheel")
    run([str(py), "-m", "pip", *cell1_install_command(), str(wheel)], env=pip_env())  # cell 1, from the wheel
    after = freeze(py)
    added = {n: v for n, v in after.items() if n not in before}
    changed = {n: f"{before[n]} -> {v}" for n, v in after.items() if n in before and before[n] != v}
    report = {"environment": "colab", "python": subprocess.run([str(py), "-c", "import sys; print(sys.version.split()[0])"],
                                                               capture_output=True, text=True).stdout.strip(),
              "versions": {n: after[n] for n in SHOWN if n in after}, "install_added": added,
              "install_changed": changed}
    touched = [n for n in PROTECTED if n in changed or n in added]
    report["install_ok"] = not touched
    tests = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", *COLAB_TESTS], cwd=ROOT,
                           env=kernel_env(), capture_output=True, text=True)
    report["tests"] = {"ok": tests.returncode == 0, "summary": tests.stdout.strip().splitlines()[-1:]}
    print(tests.stdout[-3000:], tests.stderr[-2000:], flush=True)
    report["notebooks"] = execute_notebooks(py, args.timeout)
    return report


def oldest(args: argparse.Namespace) -> dict:
    python_version, pins = lower_bounds()
    py = make_venv(args.dir / "oldest", python_version, args.fresh)
    run([str(py), "-m", "pip", "install", "-q", *pins, *pinned(TEST_TOOLS)], env=pip_env())
    wheel = build_wheel(py, args.dir / "wheel")
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], env=pip_env())
    versions = freeze(py)
    wrong = [p for p in pins if versions.get(re.sub(r"[-_.]+", "-", p.split("==")[0]).lower()) != p.split("==")[1]]
    report = {"environment": "oldest", "python": python_version, "lower_bounds": pins,
              "versions": {n: versions[n] for n in SHOWN if n in versions}, "install_ok": not wrong,
              "install_changed": {"not at its lower bound": wrong} if wrong else {}}
    start = time.perf_counter()
    tests = subprocess.run([str(py), "-m", "pytest", "-q", "-n", str(args.jobs), "--dist", "loadfile",
                            "-p", "no:cacheprovider", "-m", "not slow", *(f"--ignore={t}" for t in BOOK_TESTS),
                            "tests"], cwd=ROOT,
                           env=dict(kernel_env(), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg"),
                           capture_output=True, text=True)
    print(tests.stdout[-6000:], tests.stderr[-2000:], flush=True)
    report["tests"] = {"ok": tests.returncode == 0, "seconds": round(time.perf_counter() - start),
                       "summary": tests.stdout.strip().splitlines()[-1:]}
    report["notebooks"] = execute_notebooks(py, args.timeout)
    return report


def markdown(report: dict) -> str:
    name = {"colab": "Colab-like (newest versions)", "oldest": "Oldest allowed versions"}[report["environment"]]
    lines = [f"**{name}**, tested {time.strftime('%Y-%m-%d')} (`make test-{report['environment']}`): Python "
             f"{report['python']}, " + ", ".join(f"{n} {v}" for n, v in report["versions"].items()) + ".", ""]
    if report["environment"] == "colab":
        lines += [f"Installing the companion added {len(report['install_added'])} packages "
                  f"({', '.join(sorted(report['install_added']))}) and changed "
                  f"{', '.join(report['install_changed']) or 'nothing'}.", ""]
    what = "Unit tests" if report["environment"] == "oldest" else f"Tests that need this environment ({', '.join(COLAB_TESTS)})"
    lines += [f"{what}: {'passed' if report['tests']['ok'] else 'FAILED'} "
              f"({' '.join(report['tests']['summary']).strip('= ')}).", "",
              "| Notebook | Result | Time (s) |", "|---|---|---|"]
    for rec in report["notebooks"]:
        lines.append(f"| `{rec['notebook']}` | {'passed' if rec['ok'] else 'failed'} | {rec['seconds']} |")
    return "\n".join(lines) + "\n"


def record(report: dict, status: Path) -> None:
    begin, end = f"<!-- environments:{report['environment']}:begin -->", f"<!-- environments:{report['environment']}:end -->"
    text = status.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{status} lacks the markers {begin} ... {end}")
    head, rest = text.split(begin, 1)
    status.write_text(head + begin + "\n" + markdown(report) + end + rest.split(end, 1)[1])


def ok(report: dict) -> bool:
    return report["install_ok"] and report["tests"]["ok"] and all(r["ok"] for r in report["notebooks"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("environment", choices=["colab", "oldest"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".envs", help="where environments are kept")
    parser.add_argument("--fresh", action="store_true", help="rebuild the environment from nothing")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per notebook cell (default 900)")
    parser.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers for the unit tests")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--record", action="store_true", help="write the results into book/status.md")
    args = parser.parse_args(argv)
    report = {"colab": colab, "oldest": oldest}[args.environment](args)
    report["version"] = package_version()
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.record:
        record(report, ROOT / "book" / "status.md")
    return 0 if ok(report) else 1


if __name__ == "__main__":
    sys.exit(main())
