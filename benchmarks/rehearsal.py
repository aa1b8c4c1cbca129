"""Offline rehearsal of the AMI build, timed by phase, with xal's own share of the build.

Phases: local images (cached after the first run), moto start, machine stand-in start, the Packer
build split by Packer step (pre-SSH, Ansible, AMI creation/copies/cleanup), the check in moto,
committing the machine as the AMI's image, the export, and the first-boot test (two containers
booted from the image, the six checks; goal <= 30 s), then the VM boot test (two QEMU machines from
the exported VMDK: seconds to SSH and to JupyterLab, the checks). xal's overhead = build time as xal
ran it (render, variable checks, parsing, manifest) minus the packer process's wall time; goal < 5 %
of the build. ``--compare`` runs a second rehearsal with ``--fake-disks`` (placeholder exports, no
VM boot): the difference is what real disks and the VM boot add (goal <= 4 minutes with --quick).

Usage: python benchmarks/rehearsal.py [--full [--wheels DIR]] [--compare]   (default: --quick stand-ins
for the heavy installs; --wheels serves DIR as the extra pip index, like `xal rehearse --wheels`,
where the CPU index is out of reach)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    full = "--full" in sys.argv
    wheels = Path(sys.argv[sys.argv.index("--wheels") + 1]) if "--wheels" in sys.argv else None
    os.environ.setdefault("XAL_STATE_DIR", tempfile.mkdtemp(prefix="xal-bench-"))
    from xal.config import Settings
    from xal.rehearsal import rehearse

    started = time.perf_counter()
    manifest = rehearse(Settings(asset_id=f"bench-{int(time.time())}"), quick=not full, wheels=wheels)
    total = time.perf_counter() - started
    if "--compare" in sys.argv:
        started = time.perf_counter()
        rehearse(Settings(asset_id=f"bench-fake-{int(time.time())}"), quick=not full, wheels=wheels, fake_disks=True)
        fake_total = time.perf_counter() - started
    extra = manifest.extra
    xal_build, packer = extra["xal_seconds"], extra["packer_seconds"]
    ansible = sum(s["seconds"] or 0 for s in manifest.steps if "Ansible" in s["step"])
    pre_ssh = next((s["start"] for s in manifest.steps if "Provisioning with Ansible" in s["step"]), 0.0)
    print(f"rehearsal ({'full' if full else 'quick'} install), AMIs: {manifest.amis}")
    print(f"  total wall time                 {total:7.2f} s")
    print(f"  setup, commit, export, boot test {total - xal_build:6.2f} s")
    print(f"  build as xal ran it             {xal_build:7.2f} s")
    print(f"    packer process                {packer:7.2f} s")
    print(f"      before Ansible (EC2 steps)  {pre_ssh:7.2f} s")
    print(f"      Ansible                     {ansible:7.2f} s")
    print(f"      after Ansible (AMI, copies) {packer - pre_ssh - ansible:7.2f} s")
    overhead = xal_build - packer
    share = overhead / xal_build
    print(f"  xal overhead                    {overhead:7.2f} s = {share:6.2%} of the build (goal < 5 %)")
    boot = extra["boot_test"]
    print(f"  commit the AMI's image          {extra['rehearsal']['commit_seconds']:7.2f} s")
    print(f"  first-boot test                 {boot['boot_seconds']:7.2f} s (goal <= 30 s)")
    for check in boot["checks"]:
        print(f"    {check['name']:<28}{check['seconds']:7.2f} s  {check['outcome']}")
    vm = extra.get("vm_boot_test")
    if vm:
        print(f"  VM boot test ({vm['target']}): SSH after {vm['boot_seconds']:7.2f} s")
        for stage, seconds in vm["stages"].items():
            print(f"    {stage:<28}{seconds:7.2f} s after the start")
        for check in vm["checks"]:
            print(f"    {check['name']:<28}{check['seconds']:7.2f} s  {check['outcome']}")
    if "--compare" in sys.argv:
        added = total - fake_total
        print(f"  with --fake-disks (no VM boot)  {fake_total:7.2f} s")
        print(f"  real disks + VM boot add        {added:7.2f} s (goal <= 240 s)")
    print(f"  manifest: {Path(os.environ['XAL_STATE_DIR']) / 'builds'}")


if __name__ == "__main__":
    main()
