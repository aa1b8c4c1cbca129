"""The README's main command: `xal rehearse`, run as a process, runs the whole release graph offline."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xal.local.moto_export import image_bytes

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


def test_rehearse_runs_the_release_graph_offline(local_images, packer, tmp_path: Path) -> None:
    env = {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "xal", "rehearse", "--quick", "--asset-id", "rehearse-1", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=1500,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        folder = tmp_path / "state" / "builds" / "rehearse-1"
        manifest = json.loads(result.stdout)
        assert json.loads((folder / "ami-manifest.json").read_text())["vm_images"] == manifest["vm_images"]
        assert set(manifest["amis"]) == {"eu-central-1", "us-east-1"}
        assert sorted(manifest["public_amis"]) == sorted(manifest["amis"].values())
        assert manifest["source_ami"].startswith("ami-")
        images = {i["format"]: i for i in manifest["vm_images"]}
        assert set(images) == {"VHD", "VMDK"}
        assert images["VMDK"]["key"] == "ai_lab/rehearse-1/exasol-ai-lab-rehearse-1.vmdk"

        # every step of the graph ran, and the timeline was printed and drawn
        record = json.loads((folder / "release-manifest.json").read_text())
        assert {s["name"]: s["outcome"] for s in record["steps"]} == dict.fromkeys(STEPS, "succeeded")
        assert "* ami" in result.stderr and "critical path" in result.stderr  # the timeline, printed
        svg = ET.fromstring((folder / "timeline.svg").read_text())  # noqa: S314 - written by the test's own run
        ns = {"s": "http://www.w3.org/2000/svg"}
        drawn = {(t.text or "").rsplit(": ", 1)[0] for t in svg.iterfind(".//s:rect/s:title", ns)}
        assert drawn == STEPS  # a bar per step, titled "<step>: <outcome>, <duration> ..."

        # the GitHub stand-in got the notes and every asset
        rehearsal = manifest["extra"]["rehearsal"]
        assert set(rehearsal["release_assets"]) == {
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
        downloads = tmp_path / "state" / "rehearsal" / "downloads" / "rehearse-1"
        check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=downloads, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert sorted(check.stdout.splitlines()) == [
            "exasol-ai-lab-rehearse-1.vhd: OK",
            "exasol-ai-lab-rehearse-1.vmdk: OK",
        ]
        ami = manifest["amis"]["eu-central-1"]
        for fmt, image in images.items():  # the release AMI's disk, whether exported from it or a sibling
            data = (downloads / image["key"].rsplit("/", 1)[1]).read_bytes()
            assert data == image_bytes(ami, fmt, image["size"])

        # the Docker image was built from the same playbook, alongside
        inspect = subprocess.run(
            ["docker", "image", "inspect", "xal-rehearsal/ai-lab:rehearse-1"], capture_output=True, text=True
        )
        assert inspect.returncode == 0, inspect.stderr
        assert "49494/tcp" in json.loads(inspect.stdout)[0]["Config"]["ExposedPorts"]
    finally:
        subprocess.run(["docker", "rmi", "-f", "xal-rehearsal/ai-lab:rehearse-1"], capture_output=True, check=False)
