"""The rehearsal's real VM disks under attack: a truncated download fails its check; an image with its
netplan configuration removed, exported as VHD, boots and fails only the network check; a disk
without a bootloader fails `xal boot-test --image` at once with a clear message.

The disks of the formats, their qemu-img checks and the VMDK's boot passing the whole spec are the
rehearsal's own (tests/integration/test_rehearse.py); here one more disk is built (the broken
image's) and one VM boots in full, so the module costs about one VM boot under TCG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Rehearsal
from tests.integration.test_boot_test import CREDENTIALS, broken, details, outcomes
from tests.integration.xal_cli import run_xal
from xal.errors import XalError
from xal.firstboot.machine import BuildIdentity
from xal.firstboot.run import boot_test_disk
from xal.firstboot.spec import VM_CHECK_NAMES
from xal.rehearsal import REHEARSAL_OS_PASSWORD
from xal.vm.disk import build_raw_disk, check_disk, convert_disk, require_disk_tools

pytestmark = pytest.mark.integration
BOOT_TIMEOUT = 420.0  # to SSH under TCG on two cores, with a margin for a busy CI machine


@pytest.fixture(scope="module")
def downloads(rehearsal: Rehearsal) -> Path:
    """The disks as a user downloads them from the rehearsal's bucket (`sha256sum -c` passed)."""
    if os.geteuid() != 0:
        pytest.skip("building VM disks needs root (loop devices, mount); CI runs as root")
    try:
        require_disk_tools()
    except XalError as exc:
        pytest.skip(str(exc))
    assert rehearsal.result.returncode == 0, rehearsal.result.stderr[-3000:]
    return rehearsal.state / "rehearsal" / "downloads" / rehearsal.asset_id


def _download(downloads: Path, rehearsal: Rehearsal, ext: str) -> Path:
    return downloads / f"exasol-ai-lab-{rehearsal.asset_id}.{ext}"


def test_a_truncated_vmdk_fails_its_check(rehearsal: Rehearsal, downloads: Path, tmp_path: Path) -> None:
    """An interrupted download: the grain tables point past the end of the file."""
    truncated = tmp_path / "truncated.vmdk"
    shutil.copy(_download(downloads, rehearsal, "vmdk"), truncated)
    with truncated.open("r+b") as vmdk:
        vmdk.truncate(truncated.stat().st_size // 2)
    with pytest.raises(XalError, match=r"truncated\.vmdk is not a sound vmdk image: .*points after EOF"):
        check_disk(truncated)


def test_a_vhd_without_netplan_configuration_fails_the_network_check(rehearsal: Rehearsal, tmp_path: Path) -> None:
    """The other format boots; with the netplan role's output removed, only the network check fails."""
    with broken(rehearsal.image, "rm /etc/netplan/01-network-manager.yaml") as image:
        raw = build_raw_disk(image, tmp_path / "no-netplan.raw")
    vhd = convert_disk(raw, "VHD", tmp_path / "no-netplan.vhd")
    raw.unlink()
    identity = BuildIdentity.of(rehearsal.manifest["extra"].get("build_identity"))
    report = boot_test_disk(vhd, CREDENTIALS, identity, accel="tcg", boot_timeout=BOOT_TIMEOUT, sibling=False)
    found = outcomes(report)
    assert found == {**{name: "passed" for name in VM_CHECK_NAMES}, "network": "failed"}, details(report)
    assert "the image has no netplan configuration" in details(report)["network"]


def test_a_disk_without_bootloader_fails_boot_test_image_at_once(
    rehearsal: Rehearsal, downloads: Path, tmp_path: Path
) -> None:
    blank = tmp_path / "no-bootloader.raw"
    subprocess.run(["cp", "--sparse=always", str(_download(downloads, rehearsal, "raw")), str(blank)], check=True)
    with blank.open("r+b") as disk:  # GRUB's boot code in the MBR; the partition table stays
        disk.write(bytes(440))
    env = {**rehearsal.env, "XAL_DEFAULT_PASSWORD": REHEARSAL_OS_PASSWORD}
    started = time.monotonic()
    result = run_xal("boot-test", "--image", str(blank), "--accel", "tcg", env=env, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    error = result.stderr.strip().splitlines()[-1]
    assert "did not boot: no bootloader started within" in error
    assert "the firmware found nothing bootable on the disk" in error
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 150
