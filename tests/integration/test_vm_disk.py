"""Real VM disks of the rehearsal AMI: one raw disk built from its committed image, converted to the
three formats AWS exports, each checked with qemu-img; the VMDK boots in QEMU and passes the whole
first-boot spec; a VHD of the image with its netplan configuration removed boots and fails only the
network check; a disk without a bootloader fails with a clear message.

Three VM boots and one short failed one (about 12 minutes under TCG): the raw disk is built once
per module and every format is converted from it.
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
from xal.errors import XalError
from xal.firstboot.machine import BuildIdentity
from xal.firstboot.run import boot_test_disk
from xal.firstboot.spec import VM_CHECK_NAMES
from xal.vm.disk import DISK_FORMATS, build_raw_disk, check_disk, convert_disk, disk_info, require_disk_tools

pytestmark = pytest.mark.integration
BOOT_TIMEOUT = 420.0  # to SSH under TCG on two cores, with a margin for a busy CI machine
EXTENSIONS = {"VMDK": "vmdk", "VHD": "vhd", "RAW": "raw"}


def _skip_without_disk_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("building VM disks needs root (loop devices, mount); CI runs as root")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (scripts/bootstrap installs qemu-system-x86)")
    try:
        require_disk_tools()
    except XalError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def disks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _skip_without_disk_tools()
    return tmp_path_factory.mktemp("vm-disks")


@pytest.fixture(scope="module")
def raw_disk(rehearsal: Rehearsal, disks_dir: Path) -> Path:
    assert rehearsal.result.returncode == 0, rehearsal.result.stderr[-3000:]
    return build_raw_disk(rehearsal.image, disks_dir / "ami.raw")


@pytest.fixture(scope="module")
def disks(raw_disk: Path) -> dict[str, Path]:
    return {fmt: convert_disk(raw_disk, fmt, raw_disk.with_name(f"export.{ext}")) for fmt, ext in EXTENSIONS.items()}


def identity_of(rehearsal: Rehearsal) -> BuildIdentity | None:
    return BuildIdentity.of(rehearsal.manifest["extra"].get("build_identity"))


def test_each_format_is_the_raw_disk_in_the_format_qemu_img_expects(raw_disk: Path, disks: dict[str, Path]) -> None:
    raw = disk_info(raw_disk)
    assert raw.format == "raw" and raw.virtual_size % (1024 * 1024) == 0
    for fmt, path in disks.items():
        info = disk_info(path)
        assert (info.format, info.virtual_size) == (DISK_FORMATS[fmt][0], raw.virtual_size), fmt
        check_disk(path)
        compared = subprocess.run(["qemu-img", "compare", str(raw_disk), str(path)], capture_output=True, text=True)
        assert compared.returncode == 0, f"{fmt}: {compared.stdout}{compared.stderr}"
    assert disk_info(disks["VMDK"]).actual_size < raw.actual_size / 2  # stream-optimized: compressed grains


def test_a_truncated_vmdk_fails_its_check(disks: dict[str, Path], tmp_path: Path) -> None:
    """An interrupted download: the grain tables point past the end of the file."""
    truncated = tmp_path / "truncated.vmdk"
    shutil.copy(disks["VMDK"], truncated)
    with truncated.open("r+b") as vmdk:
        vmdk.truncate(truncated.stat().st_size // 2)
    with pytest.raises(XalError, match=r"truncated\.vmdk is not a sound vmdk image: .*points after EOF"):
        check_disk(truncated)


def test_the_vmdk_boots_and_passes_the_first_boot_spec(rehearsal: Rehearsal, disks: dict[str, Path]) -> None:
    stages: list[tuple[str, str, float]] = []

    class Stages:
        def stage(self, vm: str, stage: str, seconds: float) -> None:
            stages.append((vm, stage, seconds))

    report = boot_test_disk(
        disks["VMDK"], CREDENTIALS, identity_of(rehearsal), accel="tcg", boot_timeout=BOOT_TIMEOUT, vm_observer=Stages()
    )
    assert [(r.name, str(r.outcome)) for r in report.results] == [(n, "passed") for n in VM_CHECK_NAMES], details(
        report
    )
    assert "unlike the build's and the other instance's" in details(report)["fresh-identity"]
    assert "configured by NetworkManager" in details(report)["network"]
    assert "fs.suid_dumpable 0" in details(report)["hardening"]  # a VM's own kernel, not a container's host's
    machine = report.target.split()[0]
    assert [stage for vm, stage, _ in stages if vm == machine][:4] == ["firmware", "kernel", "systemd", "sshd"]


def test_a_vhd_without_netplan_configuration_fails_the_network_check(
    rehearsal: Rehearsal, disks: dict[str, Path], disks_dir: Path
) -> None:
    """The other format boots; with the netplan role's output removed, only the network check fails."""
    with broken(rehearsal.image, "rm /etc/netplan/01-network-manager.yaml") as image:
        raw = build_raw_disk(image, disks_dir / "no-netplan.raw")
    vhd = convert_disk(raw, "VHD", disks_dir / "no-netplan.vhd")
    raw.unlink()
    report = boot_test_disk(
        vhd, CREDENTIALS, identity_of(rehearsal), accel="tcg", boot_timeout=BOOT_TIMEOUT, sibling=False
    )
    found = outcomes(report)
    assert found == {**{name: "passed" for name in VM_CHECK_NAMES}, "network": "failed"}, details(report)
    assert "the image has no netplan configuration" in details(report)["network"]


def test_a_disk_without_bootloader_fails_with_a_clear_message(raw_disk: Path, disks_dir: Path) -> None:
    blank = disks_dir / "no-bootloader.raw"
    subprocess.run(["cp", "--sparse=always", str(raw_disk), str(blank)], check=True)
    with blank.open("r+b") as disk:  # GRUB's boot code in the MBR; the partition table stays
        disk.write(bytes(440))
    started = time.monotonic()
    with pytest.raises(XalError) as error:
        boot_test_disk(blank, CREDENTIALS, accel="tcg", boot_timeout=BOOT_TIMEOUT)
    assert "did not boot: no bootloader started within" in str(error.value)
    assert "the firmware found nothing bootable on the disk" in str(error.value)
    assert time.monotonic() - started < 120
