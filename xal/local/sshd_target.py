"""A Docker container running sshd that stands in for the EC2 build instance.

Packer's amazon-ebs builder launches an instance in the emulator, but connects over SSH to
``ssh_host``/``ssh_port``; pointing those at this container lets the real Ansible provisioner
run against a real machine offline. The port is published on 127.0.0.1 only and chosen by
Docker, so parallel runs never collide.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xal.errors import XalError

SSH_READY_TIMEOUT = 20.0
SYSTEMD_READY_TIMEOUT = 60.0
_SETUP_USER = """set -e
useradd --create-home --shell /bin/bash "$1"
echo "$1 ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/90-$1
install -d -m 700 -o "$1" -g "$1" /home/$1/.ssh
cat > /home/$1/.ssh/authorized_keys
chown "$1:$1" /home/$1/.ssh/authorized_keys
chmod 600 /home/$1/.ssh/authorized_keys
test -e /etc/ssh/ssh_host_ed25519_key || ssh-keygen -A
"""


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to the stand-in instance."""

    host: str
    port: int
    user: str
    key: str
    container: str

    def ssh_argv(self, *command: str) -> list[str]:
        return [
            "ssh",
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-i",
            self.key,
            "-p",
            str(self.port),
            f"{self.user}@{self.host}",
            *command,
        ]


def generate_key(path: Path) -> Path:
    """A fresh passwordless ed25519 key pair (``path`` and ``path.pub``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "xal-build", "-f", str(path)], check=True)
    return path


def _published_port(container: str) -> int:
    out = subprocess.run(["docker", "port", container, "22/tcp"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0].rsplit(":", 1)[1])


def _wait_for_ssh(target: SshTarget, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(target.ssh_argv("true"), capture_output=True, check=False, timeout=10).returncode == 0:
            return
        time.sleep(0.2)
    raise XalError(f"sshd in container {target.container} did not answer on {target.host}:{target.port}")


def systemd_run_args() -> list[str]:
    """``docker run`` options for systemd as PID 1 without --privileged.

    Measured on a cgroup v1 host (``../shared/reference/first-boot.md``): the host's cgroup tree
    read-only, tmpfs /run and /run/lock, ``container=docker``. On a cgroup v2 host (unified
    hierarchy) systemd needs its own writable cgroup namespace instead: not verified here.
    """
    common = ["--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker", "--stop-signal", "SIGRTMIN+3"]
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # cgroup v2
        return [*common, "--cgroupns=private", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]
    return [*common, "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro"]


def _wait_for_systemd(name: str, timeout: float) -> str:
    """systemd's state once it has finished starting (``running``, or ``degraded`` with a failed unit)."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        probe = ["docker", "exec", name, "systemctl", "is-system-running"]
        state = subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(0.3)
    raise XalError(f"systemd in container {name} did not finish starting (state {state or 'unknown'!r})")


def start_sshd_target(
    image: str, key: Path, user: str = "admin", name: str | None = None, machine: bool = False
) -> SshTarget:
    """Run the container, install ``key.pub`` for a sudo user, and wait until SSH logins work.

    ``machine``: the image boots systemd as PID 1 (the machine image), which starts sshd itself.
    """
    name = name or f"xal-target-{uuid.uuid4().hex[:10]}"
    argv = ["docker", "run", "-d", "--name", name, "--label", "org.exasol.xal.role=ssh-target"]
    argv += ["--hostname", name, *(systemd_run_args() if machine else []), "-p", "127.0.0.1::22", image]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise XalError(f"starting ssh target container from {image} failed: {run.stderr.strip()}")
    try:
        if machine:
            _wait_for_systemd(name, SYSTEMD_READY_TIMEOUT)
        setup = subprocess.run(
            ["docker", "exec", "-i", name, "sh", "-c", _SETUP_USER, "setup", user],
            input=Path(f"{key}.pub").read_bytes(),
            capture_output=True,
            check=False,
        )
        if setup.returncode != 0:
            raise XalError(f"preparing user {user} in {name} failed: {setup.stderr.decode().strip()}")
        target = SshTarget("127.0.0.1", _published_port(name), user, str(key), name)
        _wait_for_ssh(target, SSH_READY_TIMEOUT)
        return target
    except BaseException:
        remove_container(name)
        raise


def remove_container(name: str) -> None:
    subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


@contextmanager
def sshd_target(image: str, key: Path, user: str = "admin", machine: bool = False) -> Iterator[SshTarget]:
    """Context manager around :func:`start_sshd_target`; the container is always removed."""
    target = start_sshd_target(image, key, user, machine=machine)
    try:
        yield target
    finally:
        remove_container(target.container)
