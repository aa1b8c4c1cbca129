"""Opt-in tier: a real AWS account (XAL_AWS_TESTS=1, see tests/conftest.py; the CI CodeBuild project
runs it). The acceptance that matters: build the AMI for real and boot-test it - launch instances of
it, log in as its user would, and check what they meet (xal/firstboot/spec.py) - then remove every
resource of the asset."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path

import pytest

from tests.integration.xal_cli import run_xal
from xal.firstboot.spec import CHECK_NAMES

pytestmark = pytest.mark.aws


def test_a_built_ami_passes_the_first_boot_test(tmp_path: Path) -> None:
    asset = f"xal-aws-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "XAL_STATE_DIR": str(tmp_path / "state"),
        "XAL_DEFAULT_PASSWORD": f"Aws-{secrets.token_urlsafe(10)}-7",  # the image's, expired at first login
    }
    try:
        built = run_xal("build-ami", "--asset-id", asset, "--json", env=env, timeout=3 * 3600)
        assert built.returncode == 0, built.stderr[-5000:]
        manifest = json.loads(built.stdout)
        (ami,) = manifest["amis"].values()
        assert manifest["extra"]["build_identity"]["host_keys"], "the build identity was not recorded"

        tested = run_xal("boot-test", "--ami-id", ami, "--asset-id", asset, "--json", env=env, timeout=3600)
        assert tested.returncode == 0, tested.stderr[-5000:]
        report = json.loads(tested.stdout)
        assert [(c["name"], c["outcome"]) for c in report["checks"]] == [(n, "passed") for n in CHECK_NAMES]
        assert "unlike the build's and the other instance's" in report["checks"][3]["detail"]
        # a real instance has its own kernel: the live core-dump setting was read, not the file
        assert "fs.suid_dumpable 0" in report["checks"][5]["detail"]
    finally:
        cleaned = run_xal("cleanup", "--asset-id", asset, env=env, timeout=3600)
        assert cleaned.returncode == 0, cleaned.stderr[-3000:]
