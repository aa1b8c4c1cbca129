"""The machine stand-in: systemd as PID 1 (no --privileged), sshd started by systemd, and the
Ubuntu cloud-image details the playbook deals with (locked default user, no password logins, netplan)."""

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


def test_the_playbook_takes_its_systemd_path_on_the_machine(local_images: dict[str, str], tmp_path: Path) -> None:
    """On the machine stand-in the unit is enabled and started by systemd and sshd is reloaded through
    systemd: the code path that ships on EC2, not the container fallbacks."""
    from passlib.hash import sha512_crypt

    from tests.integration.ansible_helpers import (
        STAND_INS,
        host_ca_certificates,
        make_slc_repository,
        run_playbook,
        sh,
    )

    key = generate_key(tmp_path / "ssh" / "id_ed25519")
    with sshd_target(local_images["machine"], key, user="ubuntu", machine=True) as target:
        make_slc_repository(tmp_path, target.container)
        extravars = {
            **STAND_INS,
            "ai_lab_extra_ca_certificates": host_ca_certificates(),
            "ai_lab_target": "ec2",
            "ai_lab_netplan_apply": False,
            "ai_lab_os_password_hash": sha512_crypt.hash("Machine-Secret-7"),
        }
        c = target.container
        sshd_pid = sh(c, "systemctl show -p MainPID --value ssh.service").strip()
        run_playbook(target, tmp_path / "run", extravars=extravars)
        assert sh(c, "systemctl is-enabled jupyter.service").strip() == "enabled"  # by systemctl, not a symlink
        # sshd was reloaded through systemd (same process, still active), and its configuration now
        # allows passwords (the image has no host keys any more: lend sshd -T a temporary one)
        assert sh(c, "systemctl show -p MainPID --value ssh.service").strip() == sshd_pid
        assert sh(c, "systemctl is-active ssh.service").strip() == "active"
        sh(c, "ssh-keygen -q -t ed25519 -N '' -f /run/test_host_key")
        assert "passwordauthentication yes" in sh(c, "/usr/sbin/sshd -T -h /run/test_host_key").splitlines()
        assert "passwordauthentication yes" in sh(
            c, "sshd -T -h /etc/ssh/ssh_host_ed25519_key 2>/dev/null || true"
        ) or ("PasswordAuthentication yes" in sh(c, "cat /etc/ssh/sshd_config.d/00-ai-lab-password-auth.conf"))
