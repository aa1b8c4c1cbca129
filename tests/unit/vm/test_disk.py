"""The disk builder's pure parts: formats, sizes, the partition script, GRUB's configuration, and the
one-line refusals when a step cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from xal.errors import XalError
from xal.vm import disk
from xal.vm.disk import DISK_FORMATS, FAKE_DISKS_HINT, MIB, PARTITION_START, disk_size, fstab, grub_cfg, sfdisk_script


def test_formats_are_the_ones_aws_exports_in_qemu_img_names() -> None:
    assert {fmt: qemu for fmt, (qemu, _options) in DISK_FORMATS.items()} == {"VMDK": "vmdk", "VHD": "vpc", "RAW": "raw"}
    assert "subformat=streamOptimized" in DISK_FORMATS["VMDK"][1]


def test_disk_size_is_whole_mib_with_headroom() -> None:
    size = disk_size(1000 * MIB)
    assert size % MIB == 0
    assert 1000 * MIB + PARTITION_START + 256 * MIB < size < 1500 * MIB


def test_sfdisk_script_is_one_bootable_linux_partition_after_the_mbr_gap() -> None:
    script = sfdisk_script(100 * MIB)
    assert script.startswith("label: dos\n")
    assert f"start={PARTITION_START // 512}, size={99 * MIB // 512}, type=83, bootable" in script


def test_grub_and_fstab_find_the_root_by_uuid_and_speak_on_the_serial_console() -> None:
    cfg = grub_cfg("1234-uuid", "6.1.0-1-cloud-amd64")
    assert "search --no-floppy --fs-uuid --set=root 1234-uuid" in cfg
    assert "linux /boot/vmlinuz-6.1.0-1-cloud-amd64 root=UUID=1234-uuid ro" in cfg
    assert "console=ttyS0" in cfg and "initrd /boot/initrd.img-6.1.0-1-cloud-amd64" in cfg
    assert "UUID=1234-uuid / ext4" in fstab("1234-uuid")


def test_a_missing_tool_names_its_step_and_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk.shutil, "which", lambda tool: None if tool == "grub-install" else f"/usr/bin/{tool}")
    with pytest.raises(XalError) as error:
        disk.require_disk_tools()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("cannot build VM disks: the bootloader needs grub-install")
    assert message.endswith(FAKE_DISKS_HINT)


def test_not_root_is_refused_with_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(disk.Path, "is_dir", lambda _self: True)
    monkeypatch.setattr(disk.os, "geteuid", lambda: 1000)
    with pytest.raises(XalError, match=r"mounting the disk needs root \(loop devices\) \(pass --fake-disks"):
        disk.require_disk_tools()


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(XalError, match="unknown disk format 'OVA'"):
        disk.convert_disk(tmp_path / "a.raw", "OVA", tmp_path / "a.ova")
