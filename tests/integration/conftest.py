"""Fixtures the integration tests share (the moto server, images and sshd target are in tests/conftest.py):
``xal_env`` for the CLI, and ``rehearsal``, one offline rehearsal per test run."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.xal_cli import BUILD_PASSWORD_ENV, run_xal
from xal.local.ami_image import remove_asset_images
from xal.offline_release import REHEARSAL_DOCKER_REPOSITORY


@pytest.fixture
def xal_env(tmp_path: Path) -> dict[str, str]:
    """The environment for ``run_xal``: this process's (guard included), a private state folder."""
    return {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state"), **BUILD_PASSWORD_ENV}


@pytest.fixture(scope="session")
def rehearsal(local_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    """One ``xal rehearse --quick`` per test run (build, export of real disks in all three formats,
    first-boot test in containers and QEMU): the heavy part is done once and its results - manifest,
    state folder with the downloaded disks, the AMI's committed image - are shared.

    Session fixtures start before the per-test proxy guard, so the guard environment is set here."""
    from tests.conftest import GUARD_ENV, UNSET_ENV

    state = tmp_path_factory.mktemp("rehearsal") / "state"
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV and not k.startswith("XAL_")}
    env.update(GUARD_ENV)
    env["XAL_STATE_DIR"] = str(state)
    asset_id = f"it-{uuid.uuid4().hex[:8]}"
    formats = ("--format", "VMDK", "--format", "VHD", "--format", "RAW")  # real disks, all AWS writes
    tcg = ("--accel", "tcg")  # the KVM probe (15 s where KVM hangs) is tests/unit/vm's business
    result = run_xal("rehearse", "--quick", *formats, *tcg, "--asset-id", asset_id, "--json", env=env, timeout=1800)
    manifest = json.loads(result.stdout) if result.returncode == 0 else {}
    try:
        yield Rehearsal(asset_id, result, manifest, state, env)
    finally:
        remove_asset_images(asset_id)
        subprocess.run(["docker", "image", "rm", "-f", Rehearsal.docker_image_of(asset_id)], capture_output=True)


@dataclass(frozen=True)
class Rehearsal:
    asset_id: str
    result: subprocess.CompletedProcess[str]
    manifest: dict[str, Any]
    state: Path
    env: dict[str, str]

    @property
    def image(self) -> str:
        """The AMI's disk: the committed build machine."""
        return str(self.manifest["extra"]["rehearsal"]["ami_image"])

    @property
    def docker_image(self) -> str:
        return self.docker_image_of(self.asset_id)

    @staticmethod
    def docker_image_of(asset_id: str) -> str:
        return f"{REHEARSAL_DOCKER_REPOSITORY}:{asset_id}"
