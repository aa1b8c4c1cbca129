"""The README's main command: `xal rehearse`, run as a process, builds, exports and boot-tests offline."""

import json
import subprocess

import pytest

from tests.integration.conftest import Rehearsal
from xal.firstboot.spec import CHECK_NAMES
from xal.local.ami_image import AMI_LABEL, find_ami_image

pytestmark = pytest.mark.integration


def test_rehearse_builds_copies_exports_and_boot_tests(rehearsal: Rehearsal) -> None:
    assert rehearsal.result.returncode == 0, rehearsal.result.stderr[-3000:]
    manifest, asset = rehearsal.manifest, rehearsal.asset_id
    assert set(manifest["amis"]) == {"eu-central-1", "us-east-1"}
    assert manifest["source_ami"].startswith("ami-")
    images = {i["format"]: i for i in manifest["vm_images"]}
    assert set(images) == {"VHD", "VMDK"}
    assert images["VMDK"]["key"] == f"ai_lab/{asset}/exasol-ai-lab-{asset}.vmdk"
    assert images["VHD"]["size"] > 0
    on_disk = json.loads((rehearsal.state / "builds" / asset / "ami-manifest.json").read_text())
    assert on_disk["vm_images"] == manifest["vm_images"]
    # the build stand-in is gone; its disk lives on as the AMI's image, found by either region's AMI
    leftover = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name={manifest['extra']['rehearsal']['ssh_target']}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert leftover.strip() == ""
    label = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{AMI_LABEL}"}}}}', rehearsal.image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert label == manifest["amis"]["eu-central-1"]
    assert find_ami_image(manifest["amis"]["us-east-1"]) == rehearsal.image
    # the first-boot spec ran at the end and every check passed, in the spec's order
    boot = manifest["extra"]["boot_test"]
    assert [(c["name"], c["outcome"]) for c in boot["checks"]] == [(name, "passed") for name in CHECK_NAMES]
    assert boot["passed"] is True
    for name in CHECK_NAMES:
        assert f"boot test PASS {name}" in rehearsal.result.stderr
