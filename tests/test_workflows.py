"""The publishing workflows (they run on GitHub, not here) and the release conventions, checked statically.

actionlint is not used: its PyPI package downloads a binary when it is built, which this machine cannot do.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

import troikadl
from notebooks import NOTEBOOKS, ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _load(path):
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_well_formed(path):
    wf = _load(path)
    assert isinstance(wf.get("name"), str) and wf["on"], "a workflow needs a name and triggers"
    assert wf.get("permissions", {}).get("contents") == "read", "least privilege by default"
    jobs = wf["jobs"]
    for name, job in jobs.items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name)
        assert job.get("runs-on", "").startswith("ubuntu-"), name
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in jobs, f"{name} needs unknown job {need}"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: each step either uses an action or runs a command"
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), f"pin actions to a major version: {step}"
        for expr in re.findall(r"\$\{\{(.*?)\}\}", yaml.safe_dump(job)):
            assert re.fullmatch(r"\s*[\w.\-' =!&|()]+\s*", expr), f"unexpected expression {expr}"


def test_book_workflow_tests_then_deploys_the_executed_book():
    wf = _load(ROOT / ".github" / "workflows" / "book.yml")
    jobs = wf["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "make test" in runs["test"]
    assert "make book" in runs["book"] and "make check-html" in runs["book"] and jobs["book"]["needs"] == "test"
    uses = {name: [s.get("uses", "") for s in job["steps"]] for name, job in jobs.items()}
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses["book"])
    assert any(u.startswith("actions/deploy-pages@") for u in uses["deploy"])
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert "main" in wf["on"]["push"]["branches"]


def test_colab_workflow_runs_the_colab_like_script_weekly():
    wf = _load(ROOT / ".github" / "workflows" / "colab.yml")
    assert wf["on"]["schedule"] and "workflow_dispatch" in wf["on"]
    job = wf["jobs"]["colab"]
    steps = " ".join(s.get("run", "") for s in job["steps"])
    assert "python tests/environments.py colab" in steps, "the weekly run and `make test-colab` share one script"
    assert "requirements.txt" not in steps and "download.pytorch.org" not in steps, \
        "Colab has torch's regular build and none of the course's pins"
    python = next(s["with"]["python-version"] for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    import environments

    assert python == environments.COLAB_PYTHON
    makefile = (ROOT / "Makefile").read_text()
    assert "tests/environments.py colab" in makefile and "tests/environments.py oldest" in makefile


def test_the_colab_like_install_is_cell_1s_command():
    """The script installs the wheel with the arguments cell 1 passes to pip, and nothing else."""
    import environments
    from notebooks import CELL1_TEMPLATE

    args = re.search(r'subprocess\.run\(\[sys\.executable, "-m", "pip", (.*?)\n\s*f"troika-dl', CELL1_TEMPLATE, re.S)
    assert args, "cell 1 no longer calls pip as expected"
    assert [a.strip().strip('"') for a in args.group(1).split(",") if a.strip()] == environments.cell1_install_command()
    assert set(environments.PROTECTED) <= set(environments.COLAB_PACKAGES)


def test_every_requirement_of_the_package_has_a_tested_lower_bound():
    """`make test-oldest` installs these exact versions; a requirement without a lower bound cannot be tested."""
    import environments

    python, pins = environments.lower_bounds()
    names = {p.split("==")[0] for p in pins}
    assert python == "3.11" and {"torch", "numpy", "tensorflow", "keras", "transformers", "tokenizers"} <= names
    assert all(re.fullmatch(r"[\w.-]+==\d+(\.\d+)*(\.post\d+)?", p) for p in pins), pins
    status = (ROOT / "book" / "status.md").read_text()
    for env in ("colab", "oldest"):
        assert f"<!-- environments:{env}:begin -->" in status and f"<!-- environments:{env}:end -->" in status


def test_changelog_has_the_current_version():
    version = troikadl.__version__
    text = (ROOT / "CHANGELOG.md").read_text()
    first = re.search(r"^## (\d+\.\d+\.\d+)", text, re.M)
    assert first and first.group(1) == version, "the newest CHANGELOG entry must be the package's version"


def test_release_job_tags_the_version_cell_1_installs(tmp_path):
    """A clone need not carry tags (CI's does not), so the tag is the workflow's job, and its script is run here.

    The script runs in a scratch repository holding only the version file, with `git push` replaced by echo.
    """
    wf = _load(ROOT / ".github" / "workflows" / "book.yml")
    job = wf["jobs"]["release"]
    assert job["needs"] == "test" and job["permissions"] == {"contents": "write"}
    assert "refs/heads/main" in job["if"] and job["steps"][0]["with"]["fetch-depth"] == 0
    script = job["steps"][-1]["run"].replace("git push origin", "echo pushed")
    init = tmp_path / "companion" / "src" / "troikadl" / "__init__.py"
    init.parent.mkdir(parents=True)
    init.write_text((ROOT / "companion" / "src" / "troikadl" / "__init__.py").read_text())
    env = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.org", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@example.org", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "release"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True)
    tag = f"v{troikadl.__version__}"
    first = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout.split() == ["pushed", tag], first.stderr
    listed = subprocess.run(["git", "tag", "--list"], cwd=tmp_path, capture_output=True, text=True).stdout.split()
    assert listed == [tag]
    again = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.strip() == f"{tag} exists", "tagging twice must be a no-op"
