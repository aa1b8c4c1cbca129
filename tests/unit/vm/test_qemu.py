"""QEMU's command line and the boot stages read from a console log."""

from __future__ import annotations

from pathlib import Path

import pytest

from xal.errors import UsageError
from xal.vm import qemu
from xal.vm.qemu import choose_accel, console_stages, qemu_argv

# the lines a Debian cloud kernel and systemd print on ttyS0 (colours included)
CONSOLE = """GRUB: loading Linux 6.1.0-57-cloud-amd64
[    0.000000] Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org)
[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mmulti-user.target\x1b[0m - Multi-User System.
"""


def test_console_stages_in_boot_order() -> None:
    assert console_stages("") == []
    assert console_stages(CONSOLE.splitlines()[0]) == ["firmware"]
    assert console_stages(CONSOLE) == ["firmware", "kernel", "systemd"]
    getty = "\r\nDebian GNU/Linux 12 ai-lab ttyS0\r\n\r\nai-lab login: [   51.066701] cryptd: max_cpu_qlen set"
    assert console_stages("\n".join(CONSOLE.splitlines()[:2]) + getty) == ["firmware", "kernel", "systemd"]


def test_argv_forwards_ssh_and_jupyter_to_loopback_only(tmp_path: Path) -> None:
    argv = qemu_argv(tmp_path / "vm.qcow2", "tcg", tmp_path / "console.log", 2222, 4949)
    netdev = argv[argv.index("-netdev") + 1]
    assert netdev == "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:4949-:49494"
    assert argv[argv.index("-accel") + 1] == "tcg,thread=multi"
    assert f"file={tmp_path / 'vm.qcow2'},if=virtio,format=qcow2,copy-on-read=on" in argv
    assert "virtio-net-pci,netdev=net0" in argv
    assert argv[argv.index("-serial") + 1] == f"file:{tmp_path / 'console.log'}"
    kvm = qemu_argv(tmp_path / "vm.qcow2", "kvm", tmp_path / "console.log", 2222, 4949)
    assert kvm[kvm.index("-accel") + 1] == "kvm" and kvm[kvm.index("-cpu") + 1] == "host"


def test_requested_accel_is_used_without_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu, "_kvm_boots", lambda: pytest.fail("probed"))
    assert choose_accel("tcg") == "tcg"
    assert choose_accel("kvm") == "kvm"
    with pytest.raises(UsageError, match="--accel 'hvf'"):
        choose_accel("hvf")


def test_kvm_only_when_the_probe_boot_gets_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu, "_kvm_boots", lambda: False)
    assert choose_accel(None) == "tcg"
    monkeypatch.setattr(qemu, "_kvm_boots", lambda: True)
    assert choose_accel(None) == "kvm"


@pytest.mark.parametrize(
    ("seen", "message"),
    [
        ({}, "did not boot: no bootloader started within 400 s"),
        ({"firmware": 5.0, "kernel": 7.0}, "did not boot within 300 s; last console lines:\nGRUB\nLinux version"),
        (
            {"firmware": 5.0, "kernel": 7.0, "systemd": 60.0},
            "booted (systemd reached its target) but SSH did not answer through its network within 300 s",
        ),
    ],
)
def test_a_boot_that_hangs_says_where(tmp_path: Path, seen: dict[str, float], message: str) -> None:
    import subprocess
    import time

    console = tmp_path / "console.log"
    console.write_text("GRUB\nLinux version 6.1\nKernel panic - not syncing\n")
    process = subprocess.Popen(["sleep", "30"])
    try:
        booted = qemu.BootedVm("vm-1", "127.0.0.1", 1, 2, console)
        vm = qemu._Vm(booted, process, tmp_path / "o.qcow2", tmp_path / "err.log", time.monotonic() - 400, dict(seen))
        failure = vm.failure(boot_timeout=300)
    finally:
        process.kill()
        process.wait()
    assert failure is not None
    assert message in str(failure)
