"""ansible/ai_lab.yml and ansible/reset_password.yml against real containers (no mocks).

The machine container (``ssh_target``, fresh per test, Debian 12, systemd as PID 1) stands in for
the EC2 instance: Ansible logs in as the sudo user ``admin`` like Packer's amazon-ebs build logs in
as ``ubuntu``, and the playbook takes the systemd path that ships. For the Docker variant a
container without an init system (``docker_build_target``) is entered as ``root``, the user
Packer's docker builder runs Ansible as; the result is committed to an image and started with its
entrypoint.

Idempotency (see the header of ai_lab.yml): the configuration play runs twice and the second
run must change nothing; the finish (tag ``sysprep``) removes the build user's ~/.ssh, the host
keys etc., so it is run after that and checked for the clean state instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt

from tests.integration.ansible_helpers import (
    ANSIBLE_CFG,
    SLC_TAG,
    SSH_ARGS,
    STAND_INS,
    PlaybookFailed,
    allow_root_login,
    ansible_env,
    changed_tasks,
    docker_exec,
    host_ca_certificates,
    make_ca_certificate,
    make_slc_repository,
    read_json,
    run_playbook,
    sh,
    shadow_entry,
    ssh_password_login,
)
from xal.rehearsal import CONTAINER_VARS

pytestmark = pytest.mark.integration

JUPYTER_HOME = "/home/jupyter"
VENV = f"{JUPYTER_HOME}/jupyterenv"
OS_PASSWORD = "os-secret-1"


def jupyter_sha1_hash(password: str, salt: str = "0123456789ab") -> str:
    """The sha1 format jupyter_server.auth.passwd_check accepts (``sha1:salt:hexdigest``)."""
    digest = hashlib.sha1((password + salt).encode()).hexdigest()  # noqa: S324 - jupyter_server's format
    return f"sha1:{salt}:{digest}"


def test_pipelining_is_on(ssh_target, tmp_path: Path) -> None:
    """ansible.cfg is really read (ANSIBLE_CONFIG) and modules are piped, not copied."""

    def ping(**env: str) -> str:
        argv = [
            "ansible",
            "all",
            "-i",
            f"{ssh_target.host},",
            "-e",
            f"ansible_port={ssh_target.port}",
            "-u",
            ssh_target.user,
            "--private-key",
            ssh_target.key,
            f"--ssh-common-args={SSH_ARGS}",
            "-b",
            "-m",
            "ansible.builtin.ping",
            "-vvv",
        ]
        result = subprocess.run(
            argv, env={**os.environ, **ansible_env(**env)}, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    on = ping()
    assert f"Using {ANSIBLE_CFG} as config file" in on
    assert "AnsiballZ_ping.py" not in on  # piped into python3 over the SSH connection
    off = ping(ANSIBLE_PIPELINING="False")
    assert "AnsiballZ_ping.py" in off  # without pipelining: put to a remote temp file first


def test_ec2_target(ssh_target, tmp_path: Path) -> None:
    """The EC2 variant on the machine stand-in (systemd as PID 1): the code path that ships on EC2,
    not container fallbacks - the unit is enabled by systemctl, sshd is reloaded through systemd."""
    c = ssh_target.container
    sshd_pid = sh(c, "systemctl show -p MainPID --value ssh.service").strip()
    make_slc_repository(tmp_path, c)
    jupyter_hash = jupyter_sha1_hash("jupyter-secret")
    ca = make_ca_certificate(tmp_path)
    extravars = {
        **STAND_INS,
        **CONTAINER_VARS,  # the machine stand-in has no network devices of its own to hand to netplan
        "ai_lab_extra_ca_certificates": host_ca_certificates({"name": "xal test CA.pem", "content": ca}),
        "ai_lab_target": "ec2",
        "ai_lab_jupyter_password_hash": jupyter_hash,
        "ai_lab_os_password_hash": sha512_crypt.hash(OS_PASSWORD),
    }

    first, first_time = run_playbook(ssh_target, tmp_path / "run1", extravars=extravars, cmdline="--skip-tags sysprep")
    assert first.stats["changed"].get("target", 0) > 10

    # --- configuration results
    ca_body = "".join(ca.strip().splitlines()[1:-1])
    assert ca_body in sh(c, "tr -d '\\n' < /etc/ssl/certs/ca-certificates.crt")
    assert sh(c, "id -nG jupyter").split() == ["jupyter", "docker"]
    assert sh(c, "id -u jupyter; id -g jupyter").split() == ["1001", "1001"]  # also where 1000 is taken
    assert sh(c, "getent passwd jupyter").strip().split(":")[5:] == [JUPYTER_HOME, "/bin/bash"]
    assert sh(c, f"stat -c %U {VENV} {VENV}/bin/python").split() == ["jupyter", "jupyter"]
    docker_exec(c, f"{VENV}/bin/python", "-c", "import six", user="jupyter")  # the stand-in requirement
    assert "Poetry (version 2." in sh(c, "poetry --version")

    lab_config = sh(c, f"cat {JUPYTER_HOME}/.jupyter/jupyter_lab_config.py")
    assert "c.ServerApp.port = 49494" in lab_config
    assert "c.ServerApp.open_browser = False" in lab_config
    server_config = f"{JUPYTER_HOME}/.jupyter/jupyter_server_config.json"
    assert read_json(c, server_config) == {"IdentityProvider": {"hashed_password": jupyter_hash}}
    assert sh(c, f"stat -c '%U %a' {server_config}").strip() == "jupyter 600"

    unit = sh(c, "cat /etc/systemd/system/jupyter.service")
    assert f'ExecStart="{VENV}/bin/jupyter-lab" --notebook-dir={JUPYTER_HOME}/notebooks' in unit
    assert "User=jupyter" in unit
    assert f"Environment=JUPYTER_VENV={VENV} NOTEBOOKS={JUPYTER_HOME}/notebooks" in unit
    assert sh(c, "systemctl is-enabled jupyter.service").strip() == "enabled"  # by systemctl, not a symlink

    # motd: the reminder shows while the hash is the build's, and stops once it is changed
    motd = sh(c, "/etc/update-motd.d/999-jupyter")
    assert "Please change the default Jupyter password" in motd
    assert f"sudo --login --user jupyter {VENV}/bin/jupyter server password" in motd

    notebooks = sh(c, f"cd {JUPYTER_HOME}/notebooks && stat -c '%U %n' *").splitlines()
    assert notebooks == ["jupyter welcome.ipynb"]  # the tutorials need the connector (not in the stand-ins)
    assert json.loads(sh(c, f"cat {JUPYTER_HOME}/notebooks/welcome.ipynb"))["nbformat"] == 4
    slc = f"{JUPYTER_HOME}/script-languages-release"
    assert sh(c, f"git -C {slc} describe --tags", user="jupyter").strip() == SLC_TAG
    assert "renderer: NetworkManager" in sh(c, "cat /etc/netplan/01-network-manager.yaml")
    assert sh(c, "stat -c %a /etc/netplan/01-network-manager.yaml").strip() == "600"
    assert "hard       core      0" in sh(c, "cat /etc/security/limits.d/*.conf")

    # --- idempotency: the configuration again changes nothing
    second, second_time = run_playbook(
        ssh_target, tmp_path / "run2", extravars=extravars, cmdline="--skip-tags sysprep"
    )
    assert second.stats["changed"].get("target", 0) == 0, changed_tasks(second)
    print(f"configuration: first run {first_time:.1f} s, re-run {second_time:.1f} s")

    # --- the finish (the whole playbook in one go is the rehearsal's)
    full, _ = run_playbook(ssh_target, tmp_path / "run3", extravars=extravars, cmdline="--tags sysprep")
    assert full.stats["failures"] == {}
    # the finish allowed password logins and reloaded sshd through systemd: the same process, active
    assert sh(c, "systemctl show -p MainPID --value ssh.service").strip() == sshd_pid
    assert sh(c, "systemctl is-active ssh.service").strip() == "active"

    sh(c, f'echo \'{{"IdentityProvider": {{"hashed_password": "{jupyter_sha1_hash("new")}"}}}}\' > {server_config}')
    assert sh(c, "/etc/update-motd.d/999-jupyter").strip() == ""

    # security finish
    entry = shadow_entry(c, "ubuntu")
    assert sha512_crypt.verify(OS_PASSWORD, entry[1])
    assert entry[2] == "0"  # expired: must be changed at the first login
    assert "password must be changed" in sh(c, "chage -l ubuntu")
    assert "sudo" in sh(c, "id -nG ubuntu").split()
    assert sh(c, "cat /etc/ssh/sshd_config.d/00-ai-lab-password-auth.conf").endswith("PasswordAuthentication yes\n")
    assert "\nPasswordAuthentication yes\n" in sh(c, "cat /etc/ssh/sshd_config")

    # What a booted image must not carry (build CA, apt lists, host keys, machine-id, logs, histories,
    # caches, the build user's keys) is the first-boot spec's business (xal/firstboot/spec.py), run
    # against the rehearsal's image in test_rehearse.py. Here: the finish's own mechanics.
    assert sh(c, "test -e /usr/sbin/policy-rc.d && echo present || echo absent").strip() == "absent"
    assert sh(c, "systemctl is-enabled ai-lab-ssh-host-keys.service").strip() == "enabled"

    # effective sshd settings (the image has no host keys any more: lend sshd -T a temporary one)
    sh(c, "ssh-keygen -q -t ed25519 -N '' -f /run/test_host_key")
    effective = sh(c, "/usr/sbin/sshd -T -h /run/test_host_key")
    assert "passwordauthentication yes" in effective.splitlines()


def test_reset_password(ssh_target, tmp_path: Path) -> None:
    c = ssh_target.container
    # Like an Ubuntu cloud image: a drop-in disables password login, cloud-init would lock it.
    sh(
        c,
        "printf 'PasswordAuthentication no\\n' > /etc/ssh/sshd_config.d/60-cloudimg-settings.conf"
        " && mkdir -p /etc/cloud && printf 'system_info:\\n  default_user:\\n    lock_passwd: True\\n'"
        " > /etc/cloud/cloud.cfg && systemctl reload ssh",
    )
    time.sleep(0.5)
    refused = ssh_password_login(ssh_target, "admin", OS_PASSWORD, tmp_path)
    assert "Permission denied (publickey)" in refused.stderr, refused.stderr

    extravars = {"ai_lab_os_user": "admin", "ai_lab_os_password_hash": sha512_crypt.hash(OS_PASSWORD)}
    run_playbook(ssh_target, tmp_path / "reset", playbook="reset_password.yml", extravars=extravars)

    entry = shadow_entry(c, "admin")
    assert sha512_crypt.verify(OS_PASSWORD, entry[1])
    assert entry[2] == "0"
    assert sh(c, "cat /etc/ssh/sshd_config.d/60-cloudimg-settings.conf").strip() == "PasswordAuthentication yes"
    assert "lock_passwd: False" in sh(c, "cat /etc/cloud/cloud.cfg")
    assert "passwordauthentication yes" in sh(c, "/usr/sbin/sshd -T").splitlines()

    # the running sshd was reloaded: the password is accepted now (and must be changed at once)
    time.sleep(0.5)
    wrong = ssh_password_login(ssh_target, "admin", "not-the-password", tmp_path)
    assert "Permission denied" in wrong.stderr, wrong.stderr
    accepted = ssh_password_login(ssh_target, "admin", OS_PASSWORD, tmp_path)
    assert "Permission denied" not in accepted.stderr, accepted.stderr
    assert "password" in accepted.stderr.lower() and "change" in accepted.stderr.lower(), accepted.stderr


def test_docker_target(docker_build_target, tmp_path: Path) -> None:
    """The Docker variant, run as root like Packer's docker builder (stand-ins for the installs: the
    real install and the started image are test_build_docker.py's content image): idempotent, no
    systemd or netplan bits, the entrypoint's settings and default notebooks in place."""
    c = docker_build_target.container
    allow_root_login(docker_build_target)
    make_slc_repository(tmp_path, c)
    extravars = {**STAND_INS, "ai_lab_target": "docker"}

    _first, first_time = run_playbook(
        docker_build_target, tmp_path / "run1", extravars=extravars, user="root", cmdline="--skip-tags sysprep"
    )
    second, second_time = run_playbook(
        docker_build_target, tmp_path / "run2", extravars=extravars, user="root", cmdline="--skip-tags sysprep"
    )
    assert second.stats["changed"].get("target", 0) == 0, changed_tasks(second)
    run_playbook(docker_build_target, tmp_path / "run3", extravars=extravars, user="root", cmdline="--tags sysprep")
    print(f"docker-variant configuration: first run {first_time:.1f} s, re-run {second_time:.1f} s")

    # no systemd bits, no netplan, no password finish in the Docker variant
    assert sh(c, "ls /etc/systemd/system/jupyter.service /etc/netplan 2>&1 || true").count("No such file") == 2
    assert "docker" in sh(c, "id -nG jupyter").split()
    settings = read_json(c, "/etc/ai-lab/entrypoint.json")
    assert settings["port"] == 49494 and settings["notebook_defaults"] == f"{JUPYTER_HOME}/notebook-defaults"
    assert sh(c, f"ls {JUPYTER_HOME}/notebook-defaults").split() == ["welcome.ipynb"]
    assert sh(c, f"ls -A {JUPYTER_HOME}/notebooks").strip() == ""
    assert sh(c, "find /var/lib/apt/lists -type f").strip() == ""


PREFLIGHT = """
- name: The notebook role's checks before pip runs
  hosts: all
  become: true
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Run the checks
      ansible.builtin.include_role:
        name: ai_lab_notebooks
        tasks_from: preflight
"""


def test_notebook_preflight_names_what_cannot_be_installed(ssh_target, tmp_path: Path) -> None:
    """An unreachable extra index and a Python the connector does not support are one clear message
    each, before pip runs; an index that serves torch passes."""
    from xal.local.wheel_index import serve_wheel_index

    playbook = tmp_path / "preflight.yml"
    playbook.write_text(PREFLIGHT)
    stand_in = {"ai_lab_notebooks_requirements": ["six==1.17.0"]}

    unreachable = {**stand_in, "ai_lab_notebooks_extra_index_url": "http://127.0.0.1:9/simple"}
    with pytest.raises(PlaybookFailed) as failed:
        run_playbook(ssh_target, tmp_path / "unreachable", playbook=str(playbook), extravars=unreachable)
    message = " ".join(str(failed.value).split())
    assert "the extra package index http://127.0.0.1:9/simple does not serve torch to this host" in message
    assert "exasol-notebook-connector needs torch through exasol-transformers-extension" in message
    assert "XAL_PIP_EXTRA_INDEX_URL" in message

    too_old = {**stand_in, "ai_lab_notebooks_extra_index_url": "", "ai_lab_notebooks_python_min": "3.12"}
    with pytest.raises(PlaybookFailed) as failed:
        run_playbook(ssh_target, tmp_path / "python", playbook=str(playbook), extravars=too_old)
    message = " ".join(str(failed.value).split())
    assert "need Python >= 3.12 and < 3.13; this host has 3.11 (Debian 12" in message

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"listed, never installed")
    with serve_wheel_index(wheels) as index:
        served = {**stand_in, "ai_lab_notebooks_extra_index_url": index}
        run_playbook(ssh_target, tmp_path / "served", playbook=str(playbook), extravars=served)
