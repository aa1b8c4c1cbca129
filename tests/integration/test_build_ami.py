"""build-ami end to end: the CLI as a subprocess, real Packer and Ansible, moto as EC2, an sshd
container as the instance. Asserts on moto's state and on the container afterwards."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml

from tests.integration.xal_cli import run_xal
from xal import rehearsal
from xal.local.slc_repo import serve_stand_in_repo

pytestmark = pytest.mark.integration
# the rehearsal's stand-ins for the heavy installs, in a container (no netplan apply)
QUICK_VARS = {**rehearsal.QUICK_UNBOOTED_VARS, **rehearsal.CONTAINER_VARS}


def test_build_ami_against_moto_and_ssh_target(moto_endpoint, ssh_target, packer, tmp_path, xal_env) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-central-1")
    ec2.import_key_pair(KeyName="xal-test", PublicKeyMaterial=Path(f"{ssh_target.key}.pub").read_bytes())
    vars_file = tmp_path / "vars.yml"
    manifest_path = tmp_path / "manifest.json"

    args = (
        f"build-ami --asset-id 7.1.0 --aws-endpoint-url {moto_endpoint} --region eu-central-1 --ami-region us-east-1"
        " --source-ami-filter ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"
        f" --ssh-host {ssh_target.host} --ssh-port {ssh_target.port} --ssh-username {ssh_target.user}"
        f" --ssh-keypair-name xal-test --ssh-private-key-file {ssh_target.key}"
        f" --playbook-vars {vars_file} --manifest {manifest_path} --json"
    ).split()
    with serve_stand_in_repo() as slc_vars:
        vars_file.write_text(yaml.safe_dump({**QUICK_VARS, **slc_vars}))
        result = run_xal(*args, env=xal_env)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    manifest = json.loads(manifest_path.read_text())
    assert printed == manifest
    assert set(manifest["amis"]) == {"eu-central-1", "us-east-1"}
    assert manifest["source_ami"] == "ami-785db401"  # newest Canonical AMI moto knows
    assert manifest["packer_version"] == "1.6.6" or manifest["packer_version"] >= "1.7"
    assert len(manifest["git"]["sha"]) == 40
    assert any("Provisioning with Ansible" in s["step"] for s in manifest["steps"])

    tag = {"Key": "exa_ai_lab_id", "Value": "7.1.0"}
    for region, ami_id in manifest["amis"].items():
        regional = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=region)
        image = regional.describe_images(ImageIds=[ami_id])["Images"][0]
        assert image["State"] == "available"
        assert image["Name"] == "Exasol-AI-Lab-7.1.0"
        assert tag in image["Tags"]
        snapshots = regional.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag:exa_ai_lab_id", "Values": ["7.1.0"]}]
        )["Snapshots"]
        assert snapshots, f"no tagged snapshot in {region}"
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert len(instances) == 1
    assert instances[0]["State"]["Name"] == "terminated"
    assert tag in instances[0]["Tags"]
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("packer")]

    # the playbook ran on the stand-in instance
    check = subprocess.run(
        [
            "docker",
            "exec",
            ssh_target.container,
            "sh",
            "-c",
            "id -un jupyter && test -f /home/jupyter/.jupyter/jupyter_server_config.json && "
            "su jupyter -c 'git -C /home/jupyter/script-languages-release describe --tags'",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["jupyter", "rehearsal-1.0"]
    # the password reached Ansible only as a hash: never in Packer's log or xal's output
    log = Path(manifest["extra"]["packer_log"]).read_text()
    assert "Build-Secret-42" not in log + result.stdout + result.stderr
    shadow = subprocess.run(
        ["docker", "exec", ssh_target.container, "getent", "shadow", "ubuntu"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shadow.split(":")[1].startswith("$6$")
    # the build machine's identity, recorded before the hygiene removed it, for the first-boot test
    identity = manifest["extra"]["build_identity"]
    assert identity["build_user"] == ssh_target.user
    assert Path(f"{ssh_target.key}.pub").read_text().split()[1] in " ".join(identity["authorized_keys"])
    assert any(key.startswith("ssh-ed25519 ") for key in identity["host_keys"])
    assert len(identity["machine_id"]) == 32


def test_build_ami_refuses_public_ssh_host_with_local_endpoint(moto_endpoint, packer, xal_env) -> None:
    result = run_xal("build-ami", "--aws-endpoint-url", moto_endpoint, "--ssh-host", "54.214.135.108", env=xal_env)
    assert result.returncode == 2
    assert "ssh_host must be a loopback address" in result.stderr
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-central-1")
    assert ec2.describe_instances()["Reservations"] == []


def test_failed_playbook_names_the_task_and_cleans_up(moto_endpoint, ssh_target, packer, tmp_path, xal_env) -> None:
    vars_file = tmp_path / "vars.yml"
    # no stand-in repository: the clone task fails, as it would with a wrong tag
    vars_file.write_text(yaml.safe_dump({**QUICK_VARS, "ai_lab_script_languages_repo": "file:///nonexistent.git"}))
    args = (
        f"build-ami --asset-id bad-1 --aws-endpoint-url {moto_endpoint}"
        " --source-ami-filter ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"
        f" --ssh-host {ssh_target.host} --ssh-port {ssh_target.port} --ssh-username {ssh_target.user}"
        f" --ssh-keypair-name k --ssh-private-key-file {ssh_target.key} --playbook-vars {vars_file}"
    ).split()
    result = run_xal(*args, env=xal_env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: packer build failed: task 'ai_lab_script_languages : ")
    assert "Traceback" not in result.stderr
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-central-1")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert [i["State"]["Name"] for i in instances] == ["terminated"]
    assert ec2.describe_images(Owners=["self"])["Images"] == []
