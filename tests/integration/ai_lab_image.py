"""The AI-Lab Docker image with its real content, built once and reused (the heavy install).

``xal build-docker`` builds it with Packer's docker builder and the real playbook: JupyterLab, the
notebook connector with its extras and torch, docker.io, the tutorials. That install is what costs
(about 1.7 GB, several minutes), so the image is built once per test run - and, on a developer's
machine, reused across runs while nothing it is built from changed: its tag is a hash of the
playbook, the templates, xal's image code, the build variables and the wheels of the local index.

Where torch comes from, as in a real build: pip gets PyPI plus an extra index. Real builds use
PyTorch's CPU index, which this machine cannot reach; the CPU wheel on disk (``XAL_TEST_WHEELS``,
default /opt/wheels) is served as a PEP 503 index on the Docker bridge instead
(xal.local.wheel_index), and xal's setting ``pip_extra_index_url`` points there - so the build
container installs CPU torch exactly as from download.pytorch.org.

Without that wheel (a CI machine that lacks it) the image gets the documented SUBSET: every
package of the full set, resolved against PyPI, except torch and its CUDA wheels (nvidia-*,
triton), installed with --no-deps. The tests then accept exactly one kind of import failure,
``No module named 'torch'``, and say that they ran with the subset.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from xal.image.python_packages import python_packages
from xal.local.slc_repo import serve_stand_in_repo
from xal.local.wheel_index import serve_wheel_index

REPO = Path(__file__).resolve().parents[2]
REPOSITORY = "xal-test/ai-lab-content"
BARE = "xal-test/bare"
CACHE = REPO / ".xal" / "test-images"  # the manifest of each cached image
WHEELS = Path(os.environ.get("XAL_TEST_WHEELS", "/opt/wheels"))
KEY_SOURCES = ("ansible", "packer", "xal/image")
SUBSET_LEFT_OUT = re.compile(r"^(torch|nvidia-.*|triton)$")
SUBSET_IMPORT_ERRORS = ("ModuleNotFoundError: No module named 'torch'",)


@dataclass(frozen=True)
class ContentImage:
    reference: str
    manifest: dict[str, Any]
    requirements: list[str]  # what the build was asked to install
    extra_index: str  # the extra index the build used ("" = PyPI only; a local one is gone after the build)
    wheels: str | None  # the folder served as that index (serve it again to resolve against it)
    subset: bool  # the documented subset (no CPU torch wheel on this machine)
    build_seconds: float | None  # None: reused from an earlier run

    @property
    def allowed_import_errors(self) -> tuple[str, ...]:
        return SUBSET_IMPORT_ERRORS if self.subset else ()


def _docker(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, **kwargs)


def _image_id(reference: str) -> str | None:
    result = _docker("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def bare_base_image(base: str) -> str:
    """``base`` without python3 and sudo, like ubuntu:24.04: the playbook's bootstrap play must add them."""
    base_id = _image_id(base)
    tag = f"{BARE}:{(base_id or 'none').removeprefix('sha256:')[:12]}"
    if _image_id(tag):
        return tag
    name = f"xal-test-bare-{os.getpid()}"
    purge = (
        "SUDO_FORCE_REMOVE=yes apt-get purge -y -qq --auto-remove python3 python3-minimal sudo >/dev/null"
        " && ! command -v python3 && ! command -v sudo"
    )
    try:
        _docker("run", "--name", name, base, "sh", "-c", purge)
        _docker("commit", "--change", 'CMD ["/bin/sh"]', name, tag)
    finally:
        _docker("rm", "-f", name, check=False)
    return tag


def cpu_torch_wheel(requirements: list[str]) -> Path | None:
    """The CPU wheel of the pinned torch for the image's Python (3.11 on the Debian stand-in), if on disk."""
    pinned = python_packages({"ai_lab_jupyter_requirements": [], "ai_lab_notebooks_requirements": requirements})
    version = pinned.pins().get("torch")
    if version is None:
        return None
    return next(iter(sorted(WHEELS.glob(f"torch-{version}+cpu-cp311-*.whl"))), None)


def resolve(image: str, requirements: list[str], index_args: list[str]) -> list[dict[str, Any]]:
    """``pip install --dry-run --report`` of ``requirements`` in a fresh virtualenv in a container
    of ``image`` (run as a command through the entrypoint when it is the AI-Lab image)."""
    quoted = " ".join(f"'{a}'" for a in [*requirements, *index_args])
    script = (
        "python3 -m venv /tmp/resolve && /tmp/resolve/bin/pip install -q --dry-run --ignore-installed "
        f"--report /tmp/report.json {quoted} && cat /tmp/report.json"
    )
    result = _docker("run", "--rm", image, "sh", "-c", script, check=False, timeout=1800)
    assert result.returncode == 0, f"the full set does not resolve: {result.stderr[-3000:]}"
    return json.loads(result.stdout)["install"]


def index_args(url: str) -> list[str]:
    """pip's options for the extra index, as the playbook gives them (a plain-HTTP index is trusted)."""
    if not url:
        return []
    host = urllib.parse.urlsplit(url).hostname or ""
    return ["--extra-index-url", url, *(["--trusted-host", host] if url.startswith("http://") else [])]


def subset_requirements(base: str) -> list[str]:
    """The full set resolved against PyPI, minus torch and its CUDA wheels, as exact pins."""
    with_python = base  # the plain stand-in base has python3 and the archive has python3-venv
    script = "apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null"
    name = f"xal-test-resolver-{os.getpid()}"
    _docker("run", "--name", name, with_python, "sh", "-c", script)
    image = f"xal-test/resolver:{os.getpid()}"
    try:
        _docker("commit", name, image)
        report = resolve(image, list(python_packages({}).requirements), [])
    finally:
        _docker("rm", "-f", name, check=False)
        _docker("rmi", "-f", image, check=False)
    return sorted(
        f"{i['metadata']['name']}=={i['metadata']['version']}"
        for i in report
        if not SUBSET_LEFT_OUT.match(i["metadata"]["name"].lower())
    )


def cache_key(build_vars: dict[str, Any], base_id: str, wheel: Path | None) -> str:
    digest = hashlib.sha256()
    for source in KEY_SOURCES:
        for path in sorted((REPO / source).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(build_vars, sort_keys=True).encode())
    digest.update(base_id.encode())
    digest.update((f"{wheel.name}:{wheel.stat().st_size}" if wheel else "no-wheel").encode())
    return digest.hexdigest()[:16]


@contextmanager
def _extra_index(wheel: Path | None) -> Iterator[str]:
    with serve_wheel_index(wheel.parent) if wheel else nullcontext("") as url:
        yield url


def content_image(base: str, work: Path) -> ContentImage:
    """The cached image for the current sources, built when there is none."""
    bare = bare_base_image(base)
    requirements = list(python_packages({}).requirements)
    wheel = cpu_torch_wheel(requirements)
    build_vars: dict[str, Any] = {}
    if wheel is None:
        build_vars = {
            "ai_lab_notebooks_requirements": subset_requirements(base),
            "ai_lab_notebooks_pip_extra_args": "--no-deps",
        }
    key = cache_key(build_vars, _image_id(bare) or "", wheel)
    reference, record = f"{REPOSITORY}:{key}", CACHE / f"{key}.json"
    if _image_id(reference) and record.is_file():
        cached = json.loads(record.read_text())
        return ContentImage(reference, **{**cached, "build_seconds": None})

    with _extra_index(wheel) as index, serve_stand_in_repo() as slc_vars:
        vars_file = work / "content-vars.yml"
        vars_file.write_text(yaml.safe_dump({**build_vars, **slc_vars}))
        env = {
            **os.environ,
            "XAL_STATE_DIR": str(work / "state"),
            "XAL_PIP_EXTRA_INDEX_URL": index or "none",
        }
        argv = [sys.executable, "-m", "xal", "build-docker", "--asset-id", "content-test", "--repository"]
        argv += [REPOSITORY, "--tag", key, "--no-latest", "--base-image", bare, "--no-pull"]
        argv += ["--playbook-vars", str(vars_file), "--json"]
        started = time.monotonic()
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=3000)
        seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-6000:]
    recorded = {
        "manifest": json.loads(result.stdout),
        "requirements": build_vars.get("ai_lab_notebooks_requirements", requirements),
        "extra_index": index,
        "wheels": str(wheel.parent) if wheel else None,
        "subset": wheel is None,
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(recorded, indent=2))
    for old in _docker("images", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY).stdout.split():
        if old != reference:  # earlier keys of this cache: replaced by this build
            _docker("rmi", "-f", old, check=False)
    return ContentImage(reference, **recorded, build_seconds=seconds)
