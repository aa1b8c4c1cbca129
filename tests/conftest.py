"""Shared fixtures for all tiers.

- ``proxy_guard`` (autouse): any HTTP(S) request that is not to loopback fails at once, and AWS
  credentials are dummies, so no test can reach a real cloud by accident.
- ``moto_endpoint``: a fresh ThreadedMotoServer per test on 127.0.0.1:<random>.
- ``local_images``: the Debian base, sshd, machine and kernel-kit images (mmdebstrap, cached by recipe label).
- ``ssh_target``: the EC2 instance's stand-in per test: a machine container (systemd as PID 1, sshd
  started by systemd) on a random loopback port, sudo user ``admin`` with a fresh ed25519 key.
- ``docker_build_target``: a container with sshd and no init system, as Packer's docker builder
  gives Ansible (the Docker variant's path).
Integration fixtures skip only when docker, packer or mmdebstrap are truly absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from xal.aws.emulator import EMULATOR_CREDENTIALS, LOCAL_GUARD_ENV

REPO = Path(__file__).resolve().parent.parent
GUARD_ENV = {**EMULATOR_CREDENTIALS, **LOCAL_GUARD_ENV}
UNSET_ENV = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "XAL_CONFIG",
    "GITHUB_TOKEN",
    "GH_TOKEN",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("XAL_AWS_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="real-AWS tier: set XAL_AWS_TESTS=1 to run")
    for item in items:
        if item.get_closest_marker("aws") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def proxy_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("aws") is not None:  # the marker, not a folder named aws
        return
    for key, value in GUARD_ENV.items():
        monkeypatch.setenv(key, value)
    for key in UNSET_ENV:
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in os.environ if k.startswith("XAL_")]:
        monkeypatch.delenv(key)
    # build folders, manifests and run ledgers of a test never land in the checkout's .xal/
    monkeypatch.setenv("XAL_STATE_DIR", str(tmp_path / "xal-state"))
    # a credentials file nobody else writes: boto3 never picks up a developer's real profile
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    from xal.local.moto_server import moto_server

    with moto_server() as endpoint:
        yield endpoint


def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"integration tier needs {', '.join(missing)} (scripts/bootstrap installs them)")
    if "docker" in tools and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("docker is installed but no daemon is running (scripts/bootstrap starts one)")


@pytest.fixture(scope="session")
def local_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tags of the local base, sshd and machine images, built on first use."""
    _require("docker", "mmdebstrap")
    from xal.config import Settings
    from xal.local.images import prepare_local_images

    base, sshd, machine, _kernel = prepare_local_images(Settings(), tmp_path_factory.mktemp("images"))
    return {"base": base, "sshd": sshd, "machine": machine}


@pytest.fixture
def ssh_target(local_images: dict[str, str], tmp_path: Path) -> Iterator[object]:
    from xal.local.sshd_target import generate_key, sshd_target

    key = generate_key(tmp_path / "ssh" / "id_ed25519")
    with sshd_target(local_images["machine"], key, machine=True) as target:
        yield target


@pytest.fixture
def docker_build_target(local_images: dict[str, str], tmp_path: Path) -> Iterator[object]:
    from xal.local.sshd_target import generate_key, sshd_target

    key = generate_key(tmp_path / "ssh" / "id_ed25519")
    with sshd_target(local_images["sshd"], key) as target:
        yield target


@pytest.fixture
def packer() -> str:
    _require("packer")
    return shutil.which("packer") or "packer"
