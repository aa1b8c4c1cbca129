"""Boot containers from a machine image, as EC2 boots instances from an AMI: systemd as PID 1, a
new hostname and machine-id each, SSH and JupyterLab published on loopback ports only.

Two differences to a VM are bridged here, for the image's dockerd only: an unprivileged container
cannot create network bridges or iptables rules, so the booted container gets
``/etc/docker/daemon.json`` with ``iptables: false, bridge: none`` bind-mounted read-only; and
dockerd renames folders under /var/lib/docker at start, which overlayfs refuses for folders of
the image's lower layer, so /var/lib/docker is a volume (filled from the image, removed with the
container). Everything else - the socket, its group, the daemon - is the image's own. A VM boot
runs Docker unmodified.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xal import defaults
from xal.errors import XalError
from xal.local.sshd_target import remove_container, systemd_run_args

DOCKER_DAEMON_IN_CONTAINER = {"iptables": False, "bridge": "none"}
ROLE_LABEL = "org.exasol.xal.role=boot-test"


@dataclass(frozen=True)
class BootedContainer:
    name: str
    host: str
    ssh_port: int
    jupyter_port: int


def _published(container: str, port: int) -> int:
    out = subprocess.run(["docker", "port", container, f"{port}/tcp"], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.split():
        raise XalError(f"container {container} stopped while booting; its console: {console_log(container, 10)}")
    return int(out.stdout.split()[0].rsplit(":", 1)[1])


def boot_container(image: str, daemon_json: Path) -> BootedContainer:
    """Start one container from ``image``; it is booting (systemd) when this returns."""
    name = f"xal-boot-{uuid.uuid4().hex[:10]}"
    argv = ["docker", "run", "-d", "--name", name, "--hostname", name, "--label", ROLE_LABEL, *systemd_run_args()]
    argv += ["-v", f"{daemon_json}:/etc/docker/daemon.json:ro", "--mount", "type=volume,dst=/var/lib/docker"]
    argv += ["-p", "127.0.0.1::22", "-p", f"127.0.0.1::{defaults.JUPYTER_PORT}", image]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise XalError(f"booting a container from {image} failed: {run.stderr.strip()}")
    try:
        return BootedContainer(name, "127.0.0.1", _published(name, 22), _published(name, defaults.JUPYTER_PORT))
    except BaseException:
        remove_container(name)
        raise


@contextmanager
def booted_containers(image: str, count: int) -> Iterator[list[BootedContainer]]:
    """``count`` containers booted from ``image``; all removed afterwards, whatever happened."""
    started: list[BootedContainer] = []
    with tempfile.TemporaryDirectory(prefix="xal-boot-") as tmp:
        daemon_json = Path(tmp) / "daemon.json"
        daemon_json.write_text(json.dumps(DOCKER_DAEMON_IN_CONTAINER) + "\n")
        daemon_json.chmod(0o644)
        try:
            for _ in range(count):
                started.append(boot_container(image, daemon_json))
            yield started
        finally:
            for container in started:
                remove_container(container.name)


def console_log(container: str, lines: int = 40) -> str:
    """The last lines systemd printed (the container's console), one line, for a boot that went wrong."""
    logs = subprocess.run(["docker", "logs", "--tail", str(lines), container], capture_output=True, text=True)
    return " | ".join(line.strip() for line in (logs.stdout + logs.stderr).splitlines() if line.strip())
