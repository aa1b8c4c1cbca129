"""githooks/: install.sh sets core.hooksPath; pre-commit checks the staged content of changed files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD = 'def greet(name: str) -> str:\n    return f"hello {name}"\n'
BADLY_FORMATTED = "def greet( name:str )->str:\n    return 'hello '+name\n"


def git(repo: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    argv = ["git", "-c", "user.name=xal-test", "-c", "user.email=xal@example.invalid", *args]
    return subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=check, env=env, timeout=120)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    shutil.copytree(REPO / "githooks", repo / "githooks")
    (repo / "pyproject.toml").write_text('[tool.ruff]\nline-length = 120\n[tool.ruff.lint]\nselect = ["E", "F", "I"]\n')
    git(repo, "add", "pyproject.toml", "githooks")
    git(repo, "commit", "-q", "--no-verify", "-m", "init")
    result = subprocess.run(["bash", "githooks/install.sh"], cwd=repo, capture_output=True, text=True, check=True)
    assert "core.hooksPath=githooks" in result.stdout
    assert git(repo, "config", "core.hooksPath").stdout.strip() == "githooks"
    return repo


def commit(repo: Path, name: str, content: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(content)
    git(repo, "add", name)
    return git(repo, "commit", "-q", "-m", f"add {name}", check=False, env=env)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="needs ruff")
def test_badly_formatted_python_fails_and_good_python_passes(repo: Path) -> None:
    bad = commit(repo, "pkg/bad.py", BADLY_FORMATTED)
    assert bad.returncode != 0
    assert "pre-commit: ruff format --check failed" in bad.stderr
    assert "pkg/bad.py" in bad.stdout + bad.stderr

    (repo / "pkg/bad.py").unlink()
    git(repo, "rm", "-q", "--cached", "pkg/bad.py")
    good = commit(repo, "pkg/good.py", GOOD)
    assert good.returncode == 0, good.stdout + good.stderr
    assert git(repo, "log", "--format=%s", "-1").stdout.strip() == "add pkg/good.py"


@pytest.mark.skipif(shutil.which("ruff") is None, reason="needs ruff")
def test_the_staged_content_counts_not_the_working_copy(repo: Path) -> None:
    (repo / "mod.py").write_text(BADLY_FORMATTED)
    git(repo, "add", "mod.py")
    (repo / "mod.py").write_text(GOOD)  # fixed, but not staged: the commit would still be bad
    assert git(repo, "commit", "-q", "-m", "bad staged", check=False).returncode != 0
    git(repo, "add", "mod.py")
    assert git(repo, "commit", "-q", "-m", "good staged", check=False).returncode == 0


@pytest.mark.skipif(shutil.which("packer") is None, reason="needs packer")
def test_unformatted_packer_template_fails(repo: Path) -> None:
    result = commit(repo, "packer/x.pkr.hcl", 'variable "a" {\ndefault="b"\n}\n')
    assert result.returncode != 0
    assert "pre-commit: packer fmt -check packer/x.pkr.hcl failed" in result.stderr
    ok = commit(repo, "packer/x.pkr.hcl", 'variable "a" {\n  default = "b"\n}\n')
    assert ok.returncode == 0, ok.stderr


def test_missing_tools_are_skipped_with_a_message(repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "bash", "mktemp", "rm", "cat", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    result = commit(repo, "other.py", BADLY_FORMATTED, env=env)
    assert result.returncode == 0, result.stderr
    assert "pre-commit: ruff not found, skipping ruff check/format of 1 Python file(s)" in result.stderr
