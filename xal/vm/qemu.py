"""Boot VM disks in QEMU, as a user boots a downloaded AI-Lab image: the same disk, a hypervisor,
the network through NAT with SSH and JupyterLab forwarded to loopback ports.

Each VM boots from its own qcow2 overlay on the disk, so the disk file stays untouched and two
VMs of one image start from the same bytes and still differ (host keys, machine-id), as two
instances of an AMI do. KVM is used only when a probe boot gets through a kernel's start: on a
nested host /dev/kvm can exist and answer while a guest kernel hangs in its first steps; TCG (QEMU's
own CPU emulation, multi-threaded) always works, only slower. Progress comes from the serial
console (firmware, kernel, systemd) and from the forwarded ports (sshd, JupyterLab).
"""

from __future__ import annotations

import functools
import http.client
import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from xal import defaults
from xal.errors import UsageError, XalError
from xal.vm.disk import disk_info, kit_dir

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
ACCELERATORS = ("kvm", "tcg")
MEMORY_MIB = 2048  # JupyterLab, dockerd and sshd side by side
CPUS = 2
HOST = "127.0.0.1"
PROBE_TIMEOUT_SECONDS = 15.0  # a working KVM panics the probe kernel in about a second, TCG in ~3 s
POLL_SECONDS = 0.5
CONSOLE_TAIL_LINES = 40
STOP_SECONDS = 5.0
# GRUB speaks on the serial console within ~7 s under TCG (4 s seen in CI); SeaBIOS itself only on
# the screen, so a disk without a bootloader leaves the console silent while SeaBIOS retries every minute
FIRMWARE_TIMEOUT_SECONDS = 30.0

# the stages of a boot, in order; the first three are read from the serial console
FIRMWARE, KERNEL, SYSTEMD, SSHD, JUPYTERLAB = "firmware", "kernel", "systemd", "sshd", "jupyterlab"
STAGES = (FIRMWARE, KERNEL, SYSTEMD, SSHD, JUPYTERLAB)
CONSOLE_MARKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (FIRMWARE, ("SeaBIOS", "GRUB")),  # SeaBIOS handed over to the bootloader on the disk
    (KERNEL, ("Linux version",)),
    # "Reached target multi-user.target - Multi-User System", unless the serial getty took the
    # console first (systemd then stops its status lines): its login prompt is part of that target
    (SYSTEMD, ("Multi-User System", " login: ")),
)


@dataclass(frozen=True)
class BootedVm:
    """One VM booted from the disk, its SSH and JupyterLab forwarded to loopback ports."""

    name: str
    host: str
    ssh_port: int
    jupyter_port: int
    console_log: Path


class VmObserver(Protocol):
    """Told each boot stage a VM reaches, with the seconds since its QEMU started."""

    def stage(self, vm: str, stage: str, seconds: float) -> None: ...


class QuietVmObserver:
    def stage(self, vm: str, stage: str, seconds: float) -> None:
        pass


def console_stages(console: str) -> list[str]:
    """The console-visible stages ``console`` shows, in boot order."""
    return [stage for stage, marks in CONSOLE_MARKS if any(mark in console for mark in marks)]


def qemu_argv(overlay: Path, accel: str, console_log: Path, ssh_port: int, jupyter_port: int) -> list[str]:
    """One VM: virtio disk and NIC (the NIC is ens3 in the guest), user-mode NAT forwarding SSH and
    JupyterLab to loopback only, no display, the first serial port into ``console_log``."""
    forwards = ",".join(
        f"hostfwd=tcp:{HOST}:{port}-:{guest}"
        for port, guest in ((ssh_port, defaults.SSH_PORT), (jupyter_port, defaults.JUPYTER_PORT))
    )
    cpu = "host" if accel == "kvm" else "max"
    return [
        QEMU,
        "-accel",
        "kvm" if accel == "kvm" else "tcg,thread=multi",
        "-cpu",
        cpu,
        "-m",
        str(MEMORY_MIB),
        "-smp",
        str(CPUS),
        "-drive",
        # each cluster read once from the disk image: a stream-optimized VMDK inflates a whole
        # 64 KiB grain for every read, and the firmware reads the kernel a sector at a time (SSH
        # answered after 58 s instead of 82 s, JupyterLab after 98 s instead of 159 s, under TCG)
        f"file={overlay},if=virtio,format=qcow2,copy-on-read=on",
        "-netdev",
        f"user,id=net0,{forwards}",
        "-device",
        "virtio-net-pci,netdev=net0",
        "-object",
        "rng-random,id=rng0,filename=/dev/urandom",  # first-boot key generation needs entropy
        "-device",
        "virtio-rng-pci,rng=rng0",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        f"file:{console_log}",
        "-no-reboot",
    ]


def probe_argv(accel: str, kernel: Path) -> list[str]:
    """A kernel without root file system: it starts, fails to mount root, panics and (no reboot) QEMU exits."""
    return [
        QEMU,
        "-accel",
        accel,
        "-m",
        "256",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        str(kernel),
        "-append",
        "console=ttyS0 panic=-1",
    ]


def _probe_kernel() -> Path | None:
    """A kernel to probe with: the host's, else the VM disks' kernel kit when it was extracted."""
    candidates = [*sorted(Path("/boot").glob("vmlinuz-*")), *sorted(kit_dir().glob("kernel-*/boot/vmlinuz-*"))]
    return next((k for k in candidates if os.access(k, os.R_OK)), None)


@functools.cache
def _kvm_boots() -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    kernel = _probe_kernel()
    if kernel is None:
        log.info("no kernel to probe KVM with: using TCG")
        return False
    try:
        probe = subprocess.run(
            probe_argv("kvm", kernel), capture_output=True, text=True, errors="replace", timeout=PROBE_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        log.info("KVM probe boot hung for %.0f s: using TCG", PROBE_TIMEOUT_SECONDS)
        return False
    booted = "Linux version" in probe.stdout and ("Kernel panic" in probe.stdout or "VFS:" in probe.stdout)
    log.info("KVM probe boot %s", "got through the kernel's start" if booted else f"failed ({probe.returncode})")
    return booted


def check_accel(requested: str | None) -> None:
    """A usage error for an accelerator QEMU is not asked for here (None: choose one later)."""
    if requested is not None and requested not in ACCELERATORS:
        raise UsageError(f"--accel {requested!r}: expected one of {', '.join(ACCELERATORS)}")


def choose_accel(requested: str | None) -> str:
    """``requested`` when given, else "kvm" when /dev/kvm is usable and a probe boot gets through a
    kernel's start, else "tcg"."""
    check_accel(requested)
    if requested is not None:
        return requested
    return "kvm" if _kvm_boots() else "tcg"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def ssh_banner(host: str, port: int) -> bool:
    """Whether sshd answers: QEMU accepts on the forwarded port before the guest does."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.settimeout(3)
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def http_answers(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=3)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status > 0
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def tail(path: Path, lines: int = CONSOLE_TAIL_LINES) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(line.rstrip("\r") for line in text.splitlines()[-lines:])


@dataclass
class _Vm:
    booted: BootedVm
    process: subprocess.Popen[bytes]
    overlay: Path
    stderr_log: Path
    started: float
    seen: dict[str, float] = field(default_factory=dict)
    _offset: int = 0
    _console: str = ""

    def poll(self, observer: VmObserver) -> None:
        """Report the stages reached since the last poll."""
        with self.booted.console_log.open("rb") as console:
            console.seek(self._offset)
            chunk = console.read()
        self._offset += len(chunk)
        self._console = (self._console + chunk.decode(errors="replace"))[-200_000:]
        reached = console_stages(self._console)
        vm = self.booted
        if SSHD not in self.seen and ssh_banner(vm.host, vm.ssh_port):
            reached.append(SSHD)
        if SSHD in self.seen and JUPYTERLAB not in self.seen and http_answers(vm.host, vm.jupyter_port):
            reached.append(JUPYTERLAB)
        for stage in reached:
            if stage not in self.seen:
                self.seen[stage] = round(time.monotonic() - self.started, 1)
                observer.stage(vm.name, stage, self.seen[stage])

    def failure(self, boot_timeout: float) -> XalError | None:
        """Why this VM will not boot, if it is clear yet."""
        name, console = self.booted.name, tail(self.booted.console_log)
        code = self.process.poll()
        if code is not None:
            said = " / ".join(line.strip() for line in tail(self.stderr_log, 5).splitlines() if line.strip())
            return XalError(
                f"{name} did not boot: QEMU exited with {code}: {said or 'no error output'}; "
                f"last console lines:\n{console}"
            )
        waited = time.monotonic() - self.started
        if FIRMWARE not in self.seen and waited > min(FIRMWARE_TIMEOUT_SECONDS, boot_timeout):
            return XalError(
                f"{name} did not boot: no bootloader started within {waited:.0f} s (the serial console stayed "
                "silent: the firmware found nothing bootable on the disk)"
            )
        if waited > boot_timeout and SYSTEMD in self.seen:
            return XalError(
                f"{name} booted (systemd reached its target) but SSH did not answer through its network within "
                f"{boot_timeout:.0f} s: the image's network configuration (netplan/NetworkManager) did not bring "
                f"its interface up; last console lines:\n{console}"
            )
        if waited > boot_timeout:
            return XalError(f"{name} did not boot within {boot_timeout:.0f} s; last console lines:\n{console}")
        return None

    def stop(self) -> None:
        """QEMU ended (SIGTERM, then SIGKILL) and the overlay removed: the disk file was never written."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.overlay.unlink(missing_ok=True)


def _start(disk: Path, disk_format: str, work_dir: Path, accel: str) -> _Vm:
    name = f"xal-vm-{uuid.uuid4().hex[:8]}"
    overlay, console, stderr_log = (work_dir / f"{name}{suffix}" for suffix in (".qcow2", ".console.log", ".qemu.log"))
    overlay_argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk.resolve()), "-F", disk_format]
    created = subprocess.run([*overlay_argv, str(overlay)], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise XalError(f"{name}: creating its overlay on {disk.name} failed: {created.stderr.strip()}")
    console.touch()
    ssh_port, jupyter_port = _free_ports(2)
    with stderr_log.open("wb") as err:
        process = subprocess.Popen(
            qemu_argv(overlay, accel, console, ssh_port, jupyter_port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    booted = BootedVm(name, HOST, ssh_port, jupyter_port, console)
    return _Vm(booted, process, overlay, stderr_log, time.monotonic())


@contextmanager
def booted_vms(
    disk: Path,
    count: int,
    work_dir: Path,
    accel: str,
    observer: VmObserver | None,
    boot_timeout: float,
) -> Iterator[list[BootedVm]]:
    """``count`` VMs booted from ``disk`` side by side, each from its own overlay under ``work_dir``;
    yields once SSH answers on every one (XalError with the console's last lines otherwise). Stages
    reached later (JupyterLab) are still reported while the context runs. The VMs are stopped and
    their overlays removed afterwards; the console logs stay in ``work_dir``."""
    observer = observer or QuietVmObserver()
    disk_format = disk_info(disk).format
    work_dir.mkdir(parents=True, exist_ok=True)
    vms: list[_Vm] = []
    lock, stop = threading.Lock(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with lock:
                for vm in vms:
                    vm.poll(observer)
            stop.wait(POLL_SECONDS)

    with ExitStack() as cleanup:
        for _ in range(count):
            vm = _start(disk, disk_format, work_dir, accel)
            cleanup.callback(vm.stop)
            vms.append(vm)
        watcher = threading.Thread(target=watch, name="xal-vm-watch", daemon=True)
        watcher.start()
        cleanup.callback(watcher.join)
        cleanup.callback(stop.set)
        while True:
            with lock:
                pending = [vm for vm in vms if SSHD not in vm.seen]
                failure = next((f for vm in pending if (f := vm.failure(boot_timeout)) is not None), None)
            if failure is not None:
                raise failure
            if not pending:
                break
            time.sleep(POLL_SECONDS)
        yield [vm.booted for vm in vms]
