"""The README's main command: `xal rehearse`, run as a process, builds and exports offline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_rehearse_builds_copies_and_exports(local_images, packer, tmp_path: Path) -> None:
    env = {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "xal", "rehearse", "--quick", "--asset-id", "rehearse-1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(result.stdout)
    assert set(manifest["amis"]) == {"eu-central-1", "us-east-1"}
    assert manifest["source_ami"].startswith("ami-")
    images = {i["format"]: i for i in manifest["vm_images"]}
    assert set(images) == {"VHD", "VMDK"}
    assert images["VMDK"]["key"] == "ai_lab/rehearse-1/exasol-ai-lab-rehearse-1.vmdk"
    assert images["VHD"]["size"] > 0
    on_disk = json.loads((tmp_path / "state" / "builds" / "rehearse-1" / "ami-manifest.json").read_text())
    assert on_disk["vm_images"] == manifest["vm_images"]
    # the stand-in instance is gone afterwards
    leftover = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name={manifest['extra']['rehearsal']['ssh_target']}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert leftover.strip() == ""
