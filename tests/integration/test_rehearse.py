"""The README's main command: `xal rehearse`, run as a process (once per test run, the ``rehearsal``
fixture): the whole release graph offline, the AMI's disk committed as a local image and exported
as real VMDK, VHD and RAW disks, and the first-boot test at the end, in containers and in QEMU."""

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.integration.conftest import Rehearsal
from xal.firstboot.spec import CHECK_NAMES, VM_CHECK_NAMES
from xal.local.ami_image import AMI_LABEL, find_ami_image
from xal.vm.disk import check_disk, disk_info

pytestmark = pytest.mark.integration
STEPS = {
    "ami",
    "docker",
    "export",
    "checksums",
    "copy:us-east-1",
    "public:eu-central-1",
    "public:us-east-1",
    "notes",
    "github",
}


def test_rehearse_runs_the_release_graph_offline(rehearsal: Rehearsal) -> None:
    result, manifest, asset = rehearsal.result, rehearsal.manifest, rehearsal.asset_id
    assert result.returncode == 0, result.stderr[-3000:]
    folder = rehearsal.state / "builds" / asset
    assert json.loads((folder / "ami-manifest.json").read_text())["vm_images"] == manifest["vm_images"]
    assert set(manifest["amis"]) == {"eu-central-1", "us-east-1"}
    assert sorted(manifest["public_amis"]) == sorted(manifest["amis"].values())
    assert manifest["source_ami"].startswith("ami-")
    images = {i["format"]: i for i in manifest["vm_images"]}
    assert set(images) == {"VHD", "VMDK", "RAW"}
    assert images["VMDK"]["key"] == f"ai_lab/{asset}/exasol-ai-lab-{asset}.vmdk"

    # every step of the graph ran, and the timeline was printed and drawn
    record = json.loads((folder / "release-manifest.json").read_text())
    assert {s["name"]: s["outcome"] for s in record["steps"]} == dict.fromkeys(STEPS, "succeeded")
    assert "* ami" in result.stderr and "critical path" in result.stderr  # the timeline, printed
    svg = ET.fromstring((folder / "timeline.svg").read_text())  # noqa: S314 - written by the test's own run
    ns = {"s": "http://www.w3.org/2000/svg"}
    drawn = {(t.text or "").rsplit(": ", 1)[0] for t in svg.iterfind(".//s:rect/s:title", ns)}
    assert drawn == STEPS  # a bar per step, titled "<step>: <outcome>, <duration> ..."

    # the GitHub stand-in got the notes and every asset
    rehearsed = manifest["extra"]["rehearsal"]
    assert set(rehearsed["release_assets"]) == {
        "artifacts.md",
        "ami-manifest.json",
        "docker-manifest.json",
        "SHA256SUMS",
        "timeline.svg",
        "release-manifest.json",
    }
    assert "sha256sum -c SHA256SUMS" in (folder / "artifacts.md").read_text()
    assert {d["public"] for d in manifest["extra"]["ami_details"].values()} == {True}

    # the images as a user downloads them from the emulator: sha256sum -c SHA256SUMS
    downloads = rehearsal.state / "rehearsal" / "downloads" / asset
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=downloads, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert sorted(check.stdout.splitlines()) == [f"exasol-ai-lab-{asset}.{ext}: OK" for ext in ("raw", "vhd", "vmdk")]
    # real disks of the release AMI's image, whether exported from it or a sibling: qemu-img reads
    # each as the format AWS writes, all of one virtual size, and finds no corruption
    infos = {fmt: disk_info(downloads / image["key"].rsplit("/", 1)[1]) for fmt, image in images.items()}
    assert {fmt: i.format for fmt, i in infos.items()} == {"VMDK": "vmdk", "VHD": "vpc", "RAW": "raw"}
    assert len({i.virtual_size for i in infos.values()}) == 1
    assert infos["RAW"].virtual_size > 512 * 1024 * 1024  # a file system with JupyterLab and Docker
    assert infos["VMDK"].actual_size < infos["RAW"].actual_size  # stream-optimized: compressed
    raw = downloads / images["RAW"]["key"].rsplit("/", 1)[1]
    for fmt in ("VMDK", "VHD"):
        path = downloads / images[fmt]["key"].rsplit("/", 1)[1]
        check_disk(path)
        compared = subprocess.run(["qemu-img", "compare", str(raw), str(path)], capture_output=True, text=True)
        assert compared.returncode == 0, f"{fmt}: {compared.stdout}{compared.stderr}"  # the same disk, byte for byte

    # the Docker image was built from the same playbook, alongside
    inspect = subprocess.run(["docker", "image", "inspect", rehearsal.docker_image], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    assert "49494/tcp" in json.loads(inspect.stdout)[0]["Config"]["ExposedPorts"]


def test_rehearse_commits_the_amis_disk_and_boot_tests_it(rehearsal: Rehearsal) -> None:
    result, manifest = rehearsal.result, rehearsal.manifest
    assert result.returncode == 0, result.stderr[-3000:]
    # the build stand-in is gone; its disk lives on as the AMI's image (committed before the copies:
    # xal boot-test finds a copy's through the manifest, see test_boot_test.py)
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
    assert find_ami_image(manifest["amis"]["eu-central-1"]) == rehearsal.image
    # the first-boot spec ran at the end and every check passed, in the spec's order
    boot = manifest["extra"]["boot_test"]
    assert [(c["name"], c["outcome"]) for c in boot["checks"]] == [(name, "passed") for name in CHECK_NAMES]
    assert boot["passed"] is True
    for name in CHECK_NAMES:
        assert f"boot test PASS {name}" in result.stderr


def test_rehearse_boots_the_exported_vmdk_in_qemu(rehearsal: Rehearsal) -> None:
    """The downloaded VMDK booted in a QEMU machine: the spec's checks and the VM's network check
    passed, and each boot stage was reached in order."""
    result, manifest = rehearsal.result, rehearsal.manifest
    assert result.returncode == 0, result.stderr[-3000:]
    vm = manifest["extra"]["vm_boot_test"]
    assert vm["format"] == "VMDK"
    assert vm["passed"] is True
    assert [(c["name"], c["outcome"]) for c in vm["checks"]] == [(name, "passed") for name in VM_CHECK_NAMES]
    details = {c["name"]: c["detail"] for c in vm["checks"]}
    assert "unlike the build's" in details["fresh-identity"]
    assert "configured by NetworkManager" in details["network"]
    assert "fs.suid_dumpable 0" in details["hardening"]  # a VM's own kernel, not a container's host's
    assert f"exasol-ai-lab-{rehearsal.asset_id}.vmdk" in vm["target"]
    assert sorted(vm["stages"], key=vm["stages"].get) == ["firmware", "kernel", "systemd", "sshd", "jupyterlab"]
    assert "boot test PASS network" in result.stderr
