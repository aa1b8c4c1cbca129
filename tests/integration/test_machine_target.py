"""The machine stand-in: systemd as PID 1 (no --privileged), sshd started by systemd, and the
Ubuntu cloud-image details the playbook deals with (locked default user, no password logins, netplan).
The playbook's systemd path on it: test_playbook.py::test_ec2_target."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xal.local.sshd_target import generate_key, sshd_target

pytestmark = pytest.mark.integration


def _ssh(target: object, command: str) -> str:
    argv = target.ssh_argv(command)  # type: ignore[attr-defined]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_machine_boots_systemd_and_looks_like_a_cloud_image(local_images: dict[str, str], tmp_path: Path) -> None:
    key = generate_key(tmp_path / "ssh" / "id_ed25519")
    with sshd_target(local_images["machine"], key, user="ubuntu", machine=True) as target:
        assert _ssh(target, "cat /proc/1/comm") == "systemd"
        assert _ssh(target, "systemctl is-system-running || true") in ("running", "degraded")
        assert _ssh(target, "systemctl is-active ssh") == "active"  # started by systemd, not by hand
        assert _ssh(target, "sudo -n true && echo ok") == "ok"
        assert "lock_passwd: True" in _ssh(target, "cat /etc/cloud/cloud.cfg")
        assert _ssh(target, "cat /etc/ssh/sshd_config.d/60-cloudimg-settings.conf").endswith(
            "PasswordAuthentication no"
        )
        assert "passwordauthentication no" in _ssh(target, "sudo sshd -T")
        _ssh(target, "sudo netplan generate")  # netplan is there and renders its (empty) config
        assert _ssh(target, "hostname") == target.container  # each machine has its own name
