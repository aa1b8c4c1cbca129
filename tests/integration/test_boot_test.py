"""`xal boot-test` against the rehearsal's AMI, and each first-boot check failing on an image broken
the way it guards against (the broken images are the rehearsed image with one defect each)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.ansible_helpers import make_ca_certificate
from tests.integration.conftest import Rehearsal
from tests.integration.xal_cli import run_xal
from xal import defaults
from xal.firstboot.machine import BuildIdentity
from xal.firstboot.report import BootReport
from xal.firstboot.run import Credentials, boot_test_local_image
from xal.firstboot.spec import CHECK_NAMES
from xal.local.ami_image import AMI_LABEL, AMIS_LABEL, REPOSITORY
from xal.rehearsal import REHEARSAL_OS_PASSWORD

pytestmark = pytest.mark.integration
CREDENTIALS = Credentials(REHEARSAL_OS_PASSWORD, defaults.JUPYTER_PASSWORD)
BOOT_TIMEOUT = 120.0  # a defect may keep something from ever answering: do not wait the default 300 s


@contextmanager
def broken(base: str, script: str, ami_id: str = "ami-0b0ken") -> Iterator[str]:
    """``base`` with ``script`` run as root in it (not booted), labelled as the image of ``ami_id``."""
    name, tag = f"xal-break-{uuid.uuid4().hex[:8]}", f"{REPOSITORY}:broken-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "--name", name, base, "/bin/sh", "-c", script], check=True)
    changes = [
        "ENTRYPOINT []",
        'CMD ["/sbin/init"]',
        f"LABEL {AMI_LABEL}={ami_id}",
        f"LABEL {AMIS_LABEL}=eu-central-1:{ami_id}",
    ]
    argv = ["docker", "commit", *(a for c in changes for a in ("--change", c)), name, tag]
    subprocess.run(argv, check=True, capture_output=True)
    subprocess.run(["docker", "rm", "-f", name], check=True, capture_output=True)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


def outcomes(report: BootReport) -> dict[str, str]:
    return {r.name: str(r.outcome) for r in report.results}


def details(report: BootReport) -> dict[str, str]:
    return {r.name: r.detail for r in report.results}


def test_boot_test_command_passes_on_the_rehearsal_ami(rehearsal: Rehearsal) -> None:
    """The CLI finds the image by the AMI id of the copy region too, and the build identity in the
    asset's manifest."""
    assert rehearsal.result.returncode == 0, rehearsal.result.stderr[-3000:]
    copy = rehearsal.manifest["amis"]["us-east-1"]
    env = {**rehearsal.env, "XAL_DEFAULT_PASSWORD": REHEARSAL_OS_PASSWORD}
    args = ["--asset-id", rehearsal.asset_id, "--aws-endpoint-url", "http://127.0.0.1:9", "--json"]
    result = run_xal("boot-test", "--ami-id", copy, *args, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert [(c["name"], c["outcome"]) for c in report["checks"]] == [(n, "passed") for n in CHECK_NAMES]
    assert "unlike the build's and the other instance's" in report["checks"][3]["detail"]
    assert REHEARSAL_OS_PASSWORD not in result.stdout + result.stderr  # "ailab" is also Jupyter's: masked


def test_password_login_left_off_fails_password_change_and_the_command(rehearsal: Rehearsal) -> None:
    """A playbook that leaves sshd's password login off: the first check fails, the others need its login."""
    script = (
        "rm /etc/ssh/sshd_config.d/00-ai-lab-password-auth.conf"
        " && sed -i 's/^PasswordAuthentication yes/PasswordAuthentication no/' /etc/ssh/sshd_config"
        " /etc/ssh/sshd_config.d/*.conf"
    )
    with broken(rehearsal.image, script, "ami-0nopassword"):
        env = {**rehearsal.env, "XAL_DEFAULT_PASSWORD": REHEARSAL_OS_PASSWORD}
        args = ["--ami-id", "ami-0nopassword", "--aws-endpoint-url", "http://127.0.0.1:9", "--asset-id", "x"]
        result = run_xal("boot-test", *args, env=env, timeout=600)
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: first-boot test of xal-boot-") and "failed: password-change:" in error, error
    assert "the SSH server does not take passwords (it offers only: publickey)" in error, error
    assert "boot test SKIP jupyter-service" in result.stderr


def test_unit_disabled_fails_jupyter_service(rehearsal: Rehearsal) -> None:
    script = "rm /etc/systemd/system/multi-user.target.wants/jupyter.service"
    with broken(rehearsal.image, script) as image:
        report = boot_test_local_image(image, CREDENTIALS, boot_timeout=BOOT_TIMEOUT)
    assert outcomes(report)["jupyter-service"] == "failed"
    assert "jupyter.service is not enabled" in details(report)["jupyter-service"]
    assert outcomes(report)["password-change"] == "passed"


def test_motd_identity_docker_and_hardening_defects_fail_their_checks(rehearsal: Rehearsal, tmp_path: Path) -> None:
    """One image, four defects, each guarded by its own check: no motd reminder; host keys baked into
    the image (every instance shares them); an old log and a build CA left; the jupyter user out of
    the docker group; JupyterLab as root without the core-dump limits."""
    ca = make_ca_certificate(tmp_path)
    (tmp_path / "ca.pem").write_text(ca)
    script = "; ".join(
        [
            "set -e",
            "rm /etc/update-motd.d/999-jupyter",
            "ssh-keygen -A",
            "echo 'build step 7 done' > /var/log/xal-build.log && touch -d 2020-01-01 /var/log/xal-build.log",
            f"printf '%s\\n' '{ca.strip()}' >> /etc/ssl/certs/ca-certificates.crt",
            "gpasswd -d jupyter docker",
            # root, with the jupyter user's configuration (port, address, password) and no core limit
            "sed -i -e 's/^User=jupyter/User=root/' -e '/LimitCORE/d' -e 's/--no-browser/--no-browser --allow-root/'"
            " -e 's|^\\[Service\\]|[Service]\\nEnvironment=JUPYTER_CONFIG_DIR=/home/jupyter/.jupyter|'"
            " /etc/systemd/system/jupyter.service",
            "rm /etc/security/limits.d/90-ai-lab-coredumps.conf",
        ]
    )
    identity = BuildIdentity(ca_certificates=(ca,))
    with broken(rehearsal.image, script) as image:
        report = boot_test_local_image(image, CREDENTIALS, identity=identity, boot_timeout=BOOT_TIMEOUT)
    found, why = outcomes(report), details(report)
    assert found["password-change"] == found["jupyter-service"] == "passed"
    assert found["motd-hint"] == "failed"
    assert "does not ask to change the default Jupyter password" in why["motd-hint"]
    assert found["fresh-identity"] == "failed"
    assert "have the same SSH host key" in why["fresh-identity"]
    assert "log files from the build: /var/log/xal-build.log" in why["fresh-identity"]
    assert "the build's CA in the system CA bundle: build CA #1" in why["fresh-identity"]
    assert found["docker-access"] == "failed"
    assert "permission denied" in why["docker-access"].lower(), why["docker-access"]
    assert found["hardening"] == "failed"
    assert "JupyterLab runs as root, not jupyter" in why["hardening"]
    assert "may dump core" in why["hardening"] and "a login may dump core" in why["hardening"]
