"""Helpers for the playbook tests: run ansible/ against a container, look inside it.

Ansible always runs with ``ANSIBLE_CONFIG=ansible/ansible.cfg`` (the file the tool uses; the test
for pipelining proves it is read). Stand-ins keep the configuration tests small: a tiny pure-Python
package instead of JupyterLab, no Docker/NetworkManager packages, and a local bare repository
instead of GitHub. The real install is the content
image's (tests/integration/ai_lab_image.py) and the rehearsal's.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import ansible_runner

from xal.ca_certs import CaBundle

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
ANSIBLE_CFG = ANSIBLE_DIR / "ansible.cfg"
SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"

SLC_REPO_IN_CONTAINER = "/srv/script-languages-release.git"
SLC_TAG = "test-1.0"

# Small stand-ins for the heavy downloads (see roles/*/defaults/main.yml for the real lists).
STAND_INS: dict[str, Any] = {
    "ai_lab_jupyter_requirements": ["six==1.17.0"],
    "ai_lab_notebooks_requirements": [],
    "ai_lab_notebooks_tutorials": False,  # needs the connector's CLI
    "ai_lab_docker_packages": [],
    "ai_lab_netplan_packages": [],
    "ai_lab_script_languages_repo": f"file://{SLC_REPO_IN_CONTAINER}",
    "ai_lab_script_languages_version": SLC_TAG,
}


def host_ca_certificates(*extra: dict[str, str]) -> list[dict[str, str]]:
    """The playbook's CA variable as ``xal`` passes it (:func:`xal.image.playbook_vars.playbook_vars`):
    the host's extra CAs, which pip in the machine stand-in needs behind a TLS-intercepting proxy
    (the stand-in trusts only Debian's CAs, like a cloud image), plus any test CA."""
    bundle = CaBundle.from_host()
    return [*({"name": name, "content": content.decode()} for name, content in bundle.certificates), *extra]


def ansible_env(**extra: str) -> dict[str, str]:
    return {"ANSIBLE_CONFIG": str(ANSIBLE_CFG), "ANSIBLE_HOST_KEY_CHECKING": "False", **extra}


def inventory(target: Any, user: str | None = None) -> dict:
    return {
        "all": {
            "hosts": {
                "target": {
                    "ansible_host": target.host,
                    "ansible_port": target.port,
                    "ansible_user": user or target.user,
                    "ansible_ssh_private_key_file": target.key,
                    "ansible_ssh_common_args": SSH_ARGS,
                }
            }
        }
    }


class PlaybookFailed(AssertionError):
    pass


def run_playbook(
    target: Any,
    private_dir: Path,
    playbook: str = "ai_lab.yml",
    extravars: dict | None = None,
    cmdline: str | None = None,
    user: str | None = None,
    envvars: dict | None = None,
) -> tuple[ansible_runner.Runner, float]:
    """Run a playbook of ansible/ with ansible-runner; returns the runner and the wall time."""
    private_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(ANSIBLE_DIR),
        playbook=playbook,
        inventory=inventory(target, user),
        extravars=extravars or {},
        cmdline=cmdline,
        envvars={**ansible_env(), **(envvars or {})},
        quiet=True,
    )
    elapsed = time.monotonic() - started
    if runner.rc != 0:
        output = runner.stdout.read()
        raise PlaybookFailed(f"{playbook} failed (rc={runner.rc}):\n{output[-8000:]}")
    return runner, elapsed


def changed_tasks(runner: ansible_runner.Runner) -> list[str]:
    """Names of the tasks that reported a change (for readable idempotency failures)."""
    return [
        event["event_data"].get("task", "?")
        for event in runner.events
        if event.get("event") == "runner_on_ok" and event["event_data"].get("res", {}).get("changed")
    ]


def docker_exec(
    container: str, *command: str, user: str = "root", check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess:
    argv = ["docker", "exec", "-i", "--user", user, container, *command]
    result = subprocess.run(argv, capture_output=True, text=True, input=input, check=False, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    return result


def sh(container: str, script: str, user: str = "root", check: bool = True) -> str:
    return docker_exec(container, "sh", "-c", script, user=user, check=check).stdout


def read_json(container: str, path: str) -> Any:
    return json.loads(docker_exec(container, "cat", path).stdout)


def shadow_entry(container: str, user: str) -> list[str]:
    return docker_exec(container, "getent", "shadow", user).stdout.strip().split(":")


def make_slc_repository(work: Path, container: str) -> None:
    """A bare git repository with one tagged commit, copied to the container (no git needed there)."""
    source, bare = work / "slc-src", work / "slc.git"
    git = ["git", "-c", "user.name=xal-test", "-c", "user.email=xal@example.invalid", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(source)], check=True)
    (source / "README.md").write_text("stand-in for script-languages-release\n")
    subprocess.run([*git, "-C", str(source), "add", "README.md"], check=True)
    subprocess.run([*git, "-C", str(source), "commit", "-q", "-m", "release"], check=True)
    subprocess.run([*git, "-C", str(source), "tag", SLC_TAG], check=True)
    subprocess.run([*git, "clone", "-q", "--bare", str(source), str(bare)], check=True)
    subprocess.run(["docker", "cp", str(bare), f"{container}:{SLC_REPO_IN_CONTAINER}"], check=True)
    docker_exec(container, "chmod", "-R", "a+rX", SLC_REPO_IN_CONTAINER)
    # The repository belongs to root and the clone runs as the Jupyter user: git refuses such a
    # local repository ("dubious ownership") unless it is marked safe. Test setup only; a clone
    # from GitHub (the default) has no such check.
    sh(container, f"printf '[safe]\\n\\tdirectory = {SLC_REPO_IN_CONTAINER}\\n' >> /etc/gitconfig")


def allow_root_login(target: Any) -> None:
    """The Docker variant runs as root (Packer's docker builder): let the build key log in as root."""
    sh(target.container, f"install -d -m 700 /root/.ssh && cp /home/{target.user}/.ssh/authorized_keys /root/.ssh/")


# Runs inside the AI-Lab container with the venv's python: logs in to JupyterLab with the
# password given as argv[1] and prints {"login": <status of the login POST>, "status": ...}.
JUPYTER_LOGIN_SCRIPT = r"""
import http.cookiejar, json, sys, time, urllib.error, urllib.parse, urllib.request
base = "http://127.0.0.1:" + sys.argv[2]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
deadline = time.time() + 120
while True:
    try:
        opener.open(base + "/login", timeout=5).read()
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(1)
xsrf = next(c.value for c in jar if c.name == "_xsrf")
form = urllib.parse.urlencode({"password": sys.argv[1], "_xsrf": xsrf}).encode()
try:
    opener.open(urllib.request.Request(base + "/login", data=form), timeout=10).read()
except urllib.error.HTTPError as error:
    print(json.dumps({"login": error.code}))
    sys.exit(0)
try:
    reply = opener.open(base + "/api/status", timeout=10)
    print(json.dumps({"login": 200, "status": reply.status, "body": json.loads(reply.read())}))
except urllib.error.HTTPError as error:
    print(json.dumps({"login": 200, "status": error.code}))
"""


def jupyter_login(container: str, venv: str, password: str, port: int = 49494) -> dict:
    out = docker_exec(container, f"{venv}/bin/python", "-c", JUPYTER_LOGIN_SCRIPT, password, str(port)).stdout
    return json.loads(out.strip().splitlines()[-1])


def ssh_password_login(target: Any, user: str, password: str, askpass_dir: Path) -> subprocess.CompletedProcess:
    """Try an SSH login with a password only (no key); the password comes from SSH_ASKPASS."""
    askpass = askpass_dir / "askpass.sh"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$XAL_TEST_SSH_PASSWORD"\n')
    askpass.chmod(0o700)
    env = {
        "PATH": "/usr/bin:/bin",
        "SSH_ASKPASS": str(askpass),
        "SSH_ASKPASS_REQUIRE": "force",
        "DISPLAY": ":0",
        "XAL_TEST_SSH_PASSWORD": password,
    }
    argv = [
        "ssh",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "NumberOfPasswordPrompts=1",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityFile=/dev/null",
        "-p",
        str(target.port),
        f"{user}@{target.host}",
        "true",
    ]
    return subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )


def make_ca_certificate(tmp_path: Path) -> str:
    """A throwaway self-signed CA certificate (PEM)."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=xal test CA",
            "-days",
            "2",
            "-keyout",
            str(tmp_path / "ca.key"),
            "-out",
            str(tmp_path / "ca.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return (tmp_path / "ca.pem").read_text()
