"""Real VM disks of a rehearsal AMI's image: build time per format, sizes, and a QEMU boot under TCG.

Builds the raw disk (kernel kit cached after the first run), converts it to VMDK, VHD and RAW, prints
each format's time and sizes (virtual / on disk), then boot-tests one format with `boot_test_disk`
(one VM; --sibling: first a second VM to SSH for its host key, as `xal boot-test --image` does) and
prints the boot stages - firmware, kernel, systemd, SSH, JupyterLab - and the spec's time. Goal
(issue 18): disk building plus one VM boot add at most 4 minutes to `xal rehearse --quick`. Needs
root, QEMU and a rehearsal's image.

Usage: python benchmarks/vm_disk.py IMAGE [--boot-format VMDK|VHD|RAW] [--accel tcg|kvm] [--sibling]
       (IMAGE: a rehearsal AMI's local image, `docker image ls xal-rehearsal-ami`)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


class Stages:
    """Records each stage's seconds since its VM's QEMU started."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = {}

    def stage(self, vm: str, stage: str, seconds: float) -> None:
        self.seen.setdefault(vm, {})[stage] = seconds


def _option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main() -> None:
    from xal import defaults
    from xal.firstboot.run import Credentials, boot_test_disk
    from xal.rehearsal import REHEARSAL_OS_PASSWORD
    from xal.vm.disk import DISK_FORMATS, build_raw_disk, convert_disk, disk_info, kernel_kit

    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    image, boot_format, accel = sys.argv[1], _option("--boot-format", "VMDK"), _option("--accel", "tcg")
    work = Path(tempfile.mkdtemp(prefix="xal-vm-bench-"))
    mib = 1024 * 1024
    started = time.perf_counter()
    kernel_kit()
    print(f"VM disks of {image} (work folder {work})")
    print(f"  kernel kit (built or cached)    {time.perf_counter() - started:7.1f} s")
    started = time.perf_counter()
    raw = build_raw_disk(image, work / "ami.raw")
    build = time.perf_counter() - started
    info = disk_info(raw)
    print(f"  raw disk                        {build:7.1f} s  {info.virtual_size / mib:7.0f} MiB virtual")
    converted: dict[str, Path] = {}
    for fmt in DISK_FORMATS:
        started = time.perf_counter()
        converted[fmt] = convert_disk(raw, fmt, work / f"export.{fmt.lower()}")
        seconds = time.perf_counter() - started
        info = disk_info(converted[fmt])
        sizes = f"{info.virtual_size / mib:7.0f} MiB virtual, {info.actual_size / mib:6.0f} MiB on disk"
        print(f"    {fmt:<4} conversion               {seconds:7.1f} s  {sizes}")
    stages = Stages()
    credentials = Credentials(REHEARSAL_OS_PASSWORD, defaults.JUPYTER_PASSWORD)
    started = time.perf_counter()
    sibling = "--sibling" in sys.argv
    disk = converted[boot_format]
    report = boot_test_disk(disk, credentials, accel=accel, work_dir=work, vm_observer=stages, sibling=sibling)
    total = time.perf_counter() - started
    machine = report.target.split()[0]
    print(f"  boot test of the {boot_format} ({accel.upper()}): {'passed' if report.passed else 'FAILED'}")
    for vm, seen in stages.seen.items():
        role = "spec's VM" if vm == machine else "sibling  "
        print(f"    {role} " + ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in seen.items()))
    print(f"    spec                          {report.seconds:7.1f} s")
    for result in report.results:
        print(f"      {result.name:<26}{result.seconds:7.1f} s  {result.outcome}")
    print(f"    boot test total               {total:7.1f} s")
    print(f"  disks + boot test               {build + total:7.1f} s (+ conversions above; goal: <= 240 s)")


if __name__ == "__main__":
    main()
