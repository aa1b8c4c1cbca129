"""install-dependencies, reset-password and setup-ec2 end to end: the CLI as a subprocess, real
Ansible against the sshd container (the ``ssh_target`` fixture), moto as EC2 for setup-ec2.

Secrets: the clear OS password reaches xal only through its environment and must show up in
none of: xal's stdout/stderr, the ansible-runner private dir (artifacts, events, command with its
environment), the argv of any process while the playbook runs. Nor may the private key's content.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import yaml
from passlib.hash import sha512_crypt

from tests.integration.ansible_helpers import STAND_INS, make_slc_repository, sh, shadow_entry, ssh_password_login
from tests.integration.xal_cli import run_xal

pytestmark = pytest.mark.integration
PASSWORD = "Dev-Secret-Pw-731"
QUICK = {**STAND_INS, "ai_lab_netplan_apply": False}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1", **extra}


class ArgvWatcher:
    """Collects the argv of every process on the machine while it runs (what ``ps`` shows)."""

    def __init__(self) -> None:
        self.lines: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=False)
            self.lines.update(ps.stdout.splitlines())
            time.sleep(0.1)

    def __enter__(self) -> ArgvWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _tree_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def _key_body(key: str) -> str:
    return Path(key).read_text().strip().splitlines()[1]


def test_install_dependencies_and_reset_password(ssh_target, tmp_path: Path) -> None:
    c = ssh_target.container
    make_slc_repository(tmp_path, c)
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.safe_dump(QUICK))
    host = ["--host", ssh_target.host, "--port", str(ssh_target.port), "--user", ssh_target.user]
    common = [*host, "--ssh-private-key", ssh_target.key, "--playbook-vars", str(vars_file)]
    env = _env(tmp_path, XAL_DEFAULT_PASSWORD=PASSWORD)

    with ArgvWatcher() as argv:
        installed = run_xal("install-dependencies", *common, env=env)
        assert installed.returncode == 0, installed.stderr[-3000:]
        reset = run_xal("reset-password", *common, env=env)
        assert reset.returncode == 0, reset.stderr[-3000:]

    assert f"Jupyter: http://{ssh_target.host}:49494/lab" in installed.stdout
    assert "install-dependencies: ok=" in installed.stderr and "failed=0" in installed.stderr
    assert "reset-password: ok=" in reset.stderr
    assert "must be changed" in reset.stdout
    # the install really ran (configuration only: the build key still logs in)
    assert sh(c, "id -nG jupyter").split() == ["jupyter", "docker"]
    assert sh(c, "test -e /home/admin/.ssh/authorized_keys && echo present").strip() == "present"
    # the password reached the host as a SHA-512 crypt hash, expired
    entry = shadow_entry(c, ssh_target.user)
    assert entry[1].startswith("$6$") and sha512_crypt.verify(PASSWORD, entry[1])
    assert entry[2] == "0"

    # secrets: nowhere in output, ansible-runner's private dirs, or any process's argv
    state = _tree_text(tmp_path / "state")
    assert "Gathering Facts" in state or "gather" in state.lower()  # the artifacts are really there
    private_dirs = list((tmp_path / "state" / "ansible").iterdir())
    assert len(private_dirs) == 2
    for private in private_dirs:
        assert not (private / "env" / "extravars").exists()  # hashes are not kept after the run
        assert oct((private / "inventory" / "hosts.json").stat().st_mode & 0o777) == "0o600"
    assert any("ansible-playbook" in line for line in argv.lines)
    key = _key_body(ssh_target.key)
    for where, text in {
        "install stdout+stderr": installed.stdout + installed.stderr,
        "reset stdout+stderr": reset.stdout + reset.stderr,
        "private dirs": state,
        "argv": "\n".join(argv.lines),
    }.items():
        assert PASSWORD not in text, f"password in {where}"
        assert key not in text, f"private key in {where}"
    assert "-e @" in "\n".join(line for line in argv.lines if "ansible-playbook" in line)

    # log in with the new password: accepted, and it must be changed at once
    time.sleep(0.5)
    login = ssh_password_login(ssh_target, ssh_target.user, PASSWORD, tmp_path)
    assert "Permission denied" not in login.stderr, login.stderr
    assert "password" in login.stderr.lower() and "change" in login.stderr.lower(), login.stderr


def test_playbook_failure_names_the_task(ssh_target, tmp_path: Path) -> None:
    """An unreachable host and a failing task: one-line errors naming the task and Ansible's message."""
    env = _env(tmp_path, XAL_DEFAULT_PASSWORD=PASSWORD)
    key = ["--ssh-private-key", ssh_target.key, "--user", ssh_target.user]
    unreachable = run_xal("reset-password", "--host", "127.0.0.1", "--port", "1", *key, env=env)
    assert unreachable.returncode == 1
    assert "error: reset_password.yml failed at task 'Gathering Facts (host unreachable)'" in unreachable.stderr

    # sudo refused: the fact gathering (become) fails with sudo's message
    sh(ssh_target.container, f"rm /etc/sudoers.d/90-{ssh_target.user}")
    failing = run_xal("reset-password", "--host", ssh_target.host, "--port", str(ssh_target.port), *key, env=env)
    assert failing.returncode == 1, failing.stderr
    error = next(line for line in failing.stderr.splitlines() if line.startswith("error: "))
    assert "reset_password.yml failed at task 'Gathering Facts' on target" in error
    assert "sudo" in error.lower()
    assert PASSWORD not in failing.stderr + failing.stdout


def test_setup_ec2_with_install_until_ctrl_c(moto_endpoint, ssh_target, tmp_path: Path) -> None:
    c = ssh_target.container
    make_slc_repository(tmp_path, c)
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.safe_dump(QUICK))
    args = [
        "setup-ec2",
        "--asset-id",
        "dev-1",
        "--aws-endpoint-url",
        moto_endpoint,
        "--region",
        "eu-central-1",
        "--source-ami-filter",
        "ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*",
        "--ssh-host",
        ssh_target.host,
        "--ssh-port",
        str(ssh_target.port),
        "--ssh-username",
        ssh_target.user,
        "--ssh-timeout",
        "60",
        "--install-dependencies",
        "--playbook-vars",
        str(vars_file),
    ]
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xal", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_env(tmp_path),
        )
    try:
        assert proc.stdout is not None
        login = proc.stdout.readline().split()
        assert login[:2] == ["ssh", "-i"], login
        key_file = Path(login[2])
        assert login[3:] == ["-p", str(ssh_target.port), f"{ssh_target.user}@{ssh_target.host}"]
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        # what cloud-init does on EC2: the key pair's public key becomes an authorized key
        public = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True)
        sh(c, f"echo '{public.stdout.strip()}' >> /home/{ssh_target.user}/.ssh/authorized_keys")

        ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-central-1")
        tag = {"Key": "exa_ai_lab_id", "Value": "dev-1"}
        (key_pair,) = ec2.describe_key_pairs()["KeyPairs"]
        assert tag in key_pair["Tags"] and key_pair["KeyType"] == "ed25519"
        (group,) = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("xal-dev")]
        assert tag in group["Tags"]
        assert sorted(p["FromPort"] for p in group["IpPermissions"]) == [22, 49494]
        assert {r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]} == {"127.0.0.1/32"}

        jupyter = proc.stdout.readline().strip()
        assert jupyter == f"Jupyter: http://{ssh_target.host}:49494/lab", Path(stderr).read_text()[-3000:]
        (instance,) = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        assert instance["State"]["Name"] == "running" and tag in instance["Tags"]
        assert sh(c, "id -nG jupyter").split() == ["jupyter", "docker"]

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, stderr.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    log = stderr.read_text()
    assert "terminated instance" in log and "deleted security group" in log and "deleted key pair" in log
    (instance,) = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instance["State"]["Name"] == "terminated"
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("xal-dev")]
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert not key_file.exists() and not key_file.parent.exists()


def test_setup_ec2_refuses_a_public_ssh_host_with_a_local_endpoint(moto_endpoint, tmp_path: Path) -> None:
    result = run_xal("setup-ec2", "--aws-endpoint-url", moto_endpoint, "--ssh-host", "203.0.113.9", env=_env(tmp_path))
    assert result.returncode == 2
    assert "--ssh-host must be a loopback address" in result.stderr
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-central-1")
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert not [r for r in ec2.describe_instances()["Reservations"]]
