"""The templates themselves, checked by the installed Packer: formatting and validation."""

import json
import subprocess
from pathlib import Path

import pytest

from xal.config import Settings
from xal.image.ami import AmiBuildRequest, Communicator, packer_variables
from xal.image.packer_build import child_env, default_variables, prepare_build_dir
from xal.packer.binary import PackerBinary

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_templates_are_packer_fmt_clean(packer: str) -> None:
    for folder in ("packer", "packer/amazon-ebs", "packer/plugins"):
        result = subprocess.run(
            [packer, "fmt", "-check", "-diff", "."], cwd=REPO / folder, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{folder}: {result.stdout}{result.stderr}"


def test_rendered_variables_validate_for_the_installed_packer(packer: str, tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    prepare_build_dir(PackerBinary(packer), build_dir)
    (tmp_path / "ai_lab.yml").write_text("- hosts: all\n  tasks: []\n")
    request = AmiBuildRequest(
        ami_regions=("us-east-1",),
        communicator=Communicator("admin", "127.0.0.1", 2222, "k", str(tmp_path / "k")),
    )
    values = {
        **default_variables(),
        **packer_variables(
            Settings(asset_id="9.9.9", aws_endpoint_url="http://127.0.0.1:1"),
            request,
            PackerBinary(packer).generation(),
        ),
        "asset_id": "9.9.9",
        "playbook_file": str(tmp_path / "ai_lab.yml"),
        "ansible_config": str(REPO / "ansible" / "ansible.cfg"),
        "ansible_vars_file": str(tmp_path / "v.json"),
    }
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    var_file = tmp_path / "vars.pkrvars.json"
    var_file.write_text(json.dumps(values))
    result = subprocess.run(
        [packer, "validate", f"-var-file={var_file}", "."],
        cwd=build_dir,
        capture_output=True,
        text=True,
        check=False,
        env=child_env(Settings()),
    )
    assert result.returncode == 0, result.stdout + result.stderr
