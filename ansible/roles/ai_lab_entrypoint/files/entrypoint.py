#!/usr/bin/python3
"""Entrypoint of the AI-Lab Docker image (installed by the ai_lab_entrypoint Ansible role).

Runs as root, then
1. hands the notebook folder (usually a mounted volume) to the Jupyter user,
2. makes a mounted Docker socket usable: the docker group gets the socket's GID (groupmod), or,
   when another group already has that GID, the Jupyter user gets that group too,
3. drops privileges to the Jupyter user,
4. copies the default notebooks that are missing (never overwrites the user's files),
5. turns core dumps off,
6. sets the Jupyter password from the environment variable JUPYTER_PASSWORD, if given,
7. replaces itself with jupyter-lab on the configured port.

Settings come from /etc/ai-lab/entrypoint.json (written by Ansible); command line options
override them. Only the standard library is used: this runs with the system python3.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import resource
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "/etc/ai-lab/entrypoint.json"
PASSWORD_ENV = "JUPYTER_PASSWORD"  # noqa: S105 - the name of the variable
SETTINGS = (
    "user",
    "group",
    "docker_group",
    "docker_socket",
    "home",
    "venv",
    "port",
    "notebooks",
    "notebook_defaults",
)
HASH_SCRIPT = "import sys; from jupyter_server.auth import passwd; print(passwd(sys.stdin.read()))"


# ---------------------------------------------------------------- pure functions (unit-tested)


def merge_settings(file_settings: dict, cli_settings: dict) -> dict:
    """File settings overridden by the command line options that were given (not None)."""
    merged = {key: file_settings.get(key) for key in SETTINGS}
    merged.update({key: value for key, value in cli_settings.items() if value is not None})
    missing = [key for key in SETTINGS if merged.get(key) in (None, "")]
    if missing:
        raise ValueError(f"missing entrypoint settings: {', '.join(missing)}")
    merged["port"] = int(merged["port"])
    return merged


@dataclass(frozen=True)
class SocketPlan:
    """What to do about the Docker socket: nothing, `groupmod` the docker group to `gid`, or
    add the group `extra_group` (which already owns the GID) to the user's groups."""

    groupmod_gid: int | None = None
    extra_group: str | None = None


def socket_plan(socket_mode: int, socket_gid: int, docker_gid: int, gid_owner: str | None) -> SocketPlan:
    """Decide how the Jupyter user gets access to a Docker socket owned by `socket_gid`.

    `gid_owner` is the name of the group that has `socket_gid` in the image (None if none).
    """
    if socket_mode & (stat.S_IRGRP | stat.S_IWGRP) != (stat.S_IRGRP | stat.S_IWGRP):
        raise PermissionError(f"No rw permissions for group in {oct(stat.S_IMODE(socket_mode))} of the docker socket")
    if socket_gid == docker_gid:
        return SocketPlan()
    if gid_owner is None:
        return SocketPlan(groupmod_gid=socket_gid)
    return SocketPlan(extra_group=gid_owner)


def missing_copies(defaults: Path, target: Path) -> list[tuple[Path, Path]]:
    """(source, destination) pairs of files and folders under `defaults` absent in `target`,
    parents before children."""
    pairs = []
    for source in sorted(defaults.rglob("*")):
        destination = target / source.relative_to(defaults)
        if not destination.exists() and not destination.is_symlink():
            pairs.append((source, destination))
    return pairs


def with_password_hash(server_config: dict, hashed: str) -> dict:
    """The jupyter_server_config.json content with a new password hash (what
    `jupyter server password` writes)."""
    updated = dict(server_config)
    identity = dict(updated.get("IdentityProvider") or {})
    identity["hashed_password"] = hashed
    updated["IdentityProvider"] = identity
    return updated


def jupyter_command(settings: dict) -> list[str]:
    return [
        str(Path(settings["venv"], "bin", "jupyter-lab")),
        f"--notebook-dir={settings['notebooks']}",
        f"--port={settings['port']}",
        "--ip=*",
        "--no-browser",
    ]


def jupyter_environment(settings: dict, environ: dict) -> dict:
    env = {key: value for key, value in environ.items() if key != PASSWORD_ENV}
    env.update(
        HOME=settings["home"],
        USER=settings["user"],
        LOGNAME=settings["user"],
        SHELL="/bin/bash",
        VIRTUAL_ENV=settings["venv"],
        PATH=os.pathsep.join([str(Path(settings["venv"], "bin")), environ.get("PATH", os.defpath)]),
    )
    return env


# ---------------------------------------------------------------- side effects


def log(message: str) -> None:
    print(f"ai-lab entrypoint: {message}", file=sys.stderr, flush=True)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)


def group_name_of(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def fix_docker_socket(settings: dict) -> list[int]:
    """Apply the socket plan; returns extra GIDs for the Jupyter user."""
    socket = Path(settings["docker_socket"])
    if not socket.exists():
        return []
    info = socket.stat()
    docker_gid = grp.getgrnam(settings["docker_group"]).gr_gid
    plan = socket_plan(info.st_mode, info.st_gid, docker_gid, group_name_of(info.st_gid))
    if plan.groupmod_gid is not None:
        log(f"docker socket group {info.st_gid}: changing the GID of group {settings['docker_group']}")
        subprocess.run(["groupmod", "-g", str(plan.groupmod_gid), settings["docker_group"]], check=True)
    if plan.extra_group is not None:
        log(f"docker socket group {info.st_gid} is group {plan.extra_group}: adding it to the user's groups")
        return [info.st_gid]
    return []


def drop_privileges(user: str, extra_gids: list[int]) -> None:
    entry = pwd.getpwnam(user)
    gids = sorted({entry.pw_gid, *os.getgrouplist(user, entry.pw_gid), *extra_gids})
    os.setgroups(gids)
    os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
    os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)


def copy_defaults(defaults: Path, target: Path) -> None:
    if not defaults.is_dir():
        return
    for source, destination in missing_copies(defaults, target):
        if source.is_dir():
            destination.mkdir()
            destination.chmod(0o777)
        else:
            shutil.copyfile(source, destination)
            destination.chmod(0o666)


def set_password(settings: dict, password: str) -> None:
    python = str(Path(settings["venv"], "bin", "python"))
    hashed = subprocess.run(
        [python, "-c", HASH_SCRIPT], input=password, text=True, capture_output=True, check=True
    ).stdout.strip()
    config_file = Path(settings["home"], ".jupyter", "jupyter_server_config.json")
    try:
        current = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps(with_password_hash(current, hashed), indent=2) + "\n", encoding="utf-8")
    config_file.chmod(0o600)
    log(f"Jupyter password set from {PASSWORD_ENV}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG_FILE)
    for key in SETTINGS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        file_settings = json.loads(Path(args.config).read_text(encoding="utf-8"))
    except FileNotFoundError:
        file_settings = {}
    settings = merge_settings(file_settings, {key: getattr(args, key) for key in SETTINGS})
    notebooks = Path(settings["notebooks"])
    notebooks.mkdir(parents=True, exist_ok=True)
    extra_gids: list[int] = []
    if os.geteuid() == 0:
        entry = pwd.getpwnam(settings["user"])
        chown_tree(notebooks, entry.pw_uid, entry.pw_gid)
        extra_gids = fix_docker_socket(settings)
        drop_privileges(settings["user"], extra_gids)
    copy_defaults(Path(settings["notebook_defaults"]), notebooks)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    password = os.environ.get(PASSWORD_ENV)
    if password:
        set_password(settings, password)
    command = jupyter_command(settings)
    log(f"starting JupyterLab on port {settings['port']}: open http://<this host>:{settings['port']}/")
    os.chdir(notebooks)
    os.execve(command[0], command, jupyter_environment(settings, dict(os.environ)))  # noqa: S606 - becomes jupyter-lab


if __name__ == "__main__":
    main()
