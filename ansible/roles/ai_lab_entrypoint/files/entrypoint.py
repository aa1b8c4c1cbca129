#!/usr/bin/python3
"""Entrypoint of the AI-Lab Docker image (installed by the ai_lab_entrypoint Ansible role).

Runs as root, then
1. hands the notebook folder (usually a mounted volume) to the Jupyter user,
2. makes a mounted Docker socket usable: the docker group gets the socket's GID (groupmod), or,
   when another group already has that GID, the Jupyter user joins that group; a socket its
   group may not use is reported and left alone (JupyterLab starts without Docker access),
3. drops privileges to the Jupyter user,
4. copies the default notebooks that are missing (never overwrites the user's files),
5. turns core dumps off,
6. sets the Jupyter password from the environment variable JUPYTER_PASSWORD, if given,
7. prints a short welcome (URL, whether the default password is in use) and replaces itself with
   jupyter-lab, whose log is then the container's log; or, when the container was started with a
   command (`docker run IMAGE bash`), replaces itself with that command, run as the Jupyter user.

Settings come from /etc/ai-lab/entrypoint.json (written by Ansible), then the image's environment
(JUPYTER_VENV, NOTEBOOKS, NOTEBOOK_DEFAULTS, which derived images may change), then command line
options. Only the standard library is used: this runs with the system python3.
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
# settings the image's environment may override (the variables upstream's image sets)
ENV_SETTINGS = {"JUPYTER_VENV": "venv", "NOTEBOOKS": "notebooks", "NOTEBOOK_DEFAULTS": "notebook_defaults"}
OPTIONAL = ("default_password",)  # the documented default password: the welcome says when it is in use
HASH_SCRIPT = "import sys; from jupyter_server.auth import passwd; print(passwd(sys.stdin.read()))"
CHECK_SCRIPT = (
    "import json, sys; from jupyter_server.auth import passwd_check; "
    "config = json.load(open(sys.argv[1], encoding='utf-8')); "
    "print(passwd_check(config['IdentityProvider']['hashed_password'], sys.stdin.read()))"
)


# ---------------------------------------------------------------- pure functions (unit-tested)


def merge_settings(file_settings: dict, cli_settings: dict, environ: dict | None = None) -> dict:
    """File settings, overridden by the image's environment (ENV_SETTINGS), overridden by the
    command line options that were given (not None)."""
    merged = {key: file_settings.get(key) for key in (*SETTINGS, *OPTIONAL)}
    merged.update({key: (environ or {})[name] for name, key in ENV_SETTINGS.items() if (environ or {}).get(name)})
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
        raise PermissionError(
            f"its group may not read and write it (mode {stat.S_IMODE(socket_mode):04o}): JupyterLab starts "
            "without Docker access; give the socket's group rw on the Docker host (chmod g+rw) to use Docker "
            "from the notebooks"
        )
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
    """The environment of JupyterLab (and so of every kernel) or of the command: the Jupyter user's,
    the venv first on PATH, NOTEBOOKS (where the tutorials keep their configuration store)."""
    env = {key: value for key, value in environ.items() if key != PASSWORD_ENV}
    env.update(
        HOME=settings["home"],
        USER=settings["user"],
        LOGNAME=settings["user"],
        SHELL="/bin/bash",
        VIRTUAL_ENV=settings["venv"],
        JUPYTER_VENV=settings["venv"],
        NOTEBOOKS=settings["notebooks"],
        NOTEBOOK_DEFAULTS=settings["notebook_defaults"],
        PATH=os.pathsep.join([str(Path(settings["venv"], "bin")), environ.get("PATH", os.defpath)]),
    )
    return env


def welcome(port: int, password: str) -> str:
    """The few lines a user sees first in ``docker run`` / ``docker logs``.

    ``password``: "env" (set from JUPYTER_PASSWORD), "default" (the documented default is in use)
    or "custom" (the image was built with another one).
    """
    hint = {
        "env": f"Log in with the password you gave in {PASSWORD_ENV}.",
        "default": (
            "The default Jupyter password 'ailab' is in use; set your own with "
            f"docker run --env {PASSWORD_ENV}=<password> ..."
        ),
        "custom": "Log in with the Jupyter password this image was built with.",
    }[password]
    return (
        f"Exasol AI-Lab: JupyterLab starts on port {port}; its log follows.\n"
        f"Open http://localhost:{port}/ when the container publishes the port (docker run -p {port}:{port} ...),"
        " from another machine the Docker host's address.\n"
        f"{hint}\n"
    )


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


def fix_docker_socket(settings: dict) -> None:
    """Apply the socket plan to the image's groups; the socket itself (the host's) is never changed."""
    socket = Path(settings["docker_socket"])
    if not socket.exists():
        return
    info = socket.stat()
    docker_gid = grp.getgrnam(settings["docker_group"]).gr_gid
    try:
        plan = socket_plan(info.st_mode, info.st_gid, docker_gid, group_name_of(info.st_gid))
    except PermissionError as error:
        log(f"the Docker socket {socket} is mounted, but {error}")
        return
    if plan.groupmod_gid is not None:
        log(f"docker socket group {info.st_gid}: changing the GID of group {settings['docker_group']}")
        subprocess.run(["groupmod", "-g", str(plan.groupmod_gid), settings["docker_group"]], check=True)
    if plan.extra_group is not None:
        log(f"docker socket group {info.st_gid} is group {plan.extra_group}: adding {settings['user']} to it")
        # in /etc/group, not only this process's groups: `docker exec --user jupyter` shells need it too
        subprocess.run(["usermod", "--append", "--groups", plan.extra_group, settings["user"]], check=True)


def drop_privileges(user: str) -> None:
    """Become ``user`` with the groups /etc/group gives it now (after the socket fix)."""
    entry = pwd.getpwnam(user)
    gids = sorted({entry.pw_gid, *os.getgrouplist(user, entry.pw_gid)})
    os.setgroups(gids)
    os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
    os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)


def copy_defaults(defaults: Path, target: Path) -> int:
    """Copy what is missing; returns the number of files copied."""
    if not defaults.is_dir():
        return 0
    copied = 0
    for source, destination in missing_copies(defaults, target):
        if source.is_dir():
            destination.mkdir()
            destination.chmod(0o777)
        else:
            shutil.copyfile(source, destination)
            destination.chmod(0o666)
            copied += 1
    return copied


def server_config_file(settings: dict) -> Path:
    return Path(settings["home"], ".jupyter", "jupyter_server_config.json")


def password_state(settings: dict, password_from_env: bool) -> str:
    """What the welcome says about the password (see :func:`welcome`)."""
    if password_from_env:
        return "env"
    default = settings.get("default_password")
    if not default:
        return "custom"
    check = subprocess.run(
        [str(Path(settings["venv"], "bin", "python")), "-c", CHECK_SCRIPT, str(server_config_file(settings))],
        input=default,
        text=True,
        capture_output=True,
        check=False,
    )
    return "default" if check.stdout.strip() == "True" else "custom"


def set_password(settings: dict, password: str) -> None:
    python = str(Path(settings["venv"], "bin", "python"))
    hashed = subprocess.run(
        [python, "-c", HASH_SCRIPT], input=password, text=True, capture_output=True, check=True
    ).stdout.strip()
    config_file = server_config_file(settings)
    try:
        current = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps(with_password_hash(current, hashed), indent=2) + "\n", encoding="utf-8")
    config_file.chmod(0o600)
    log(f"Jupyter password set from {PASSWORD_ENV}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options first; everything from the first other word on is the command to run instead of
    JupyterLab (``docker run IMAGE bash -l``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG_FILE)
    for key in SETTINGS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="run this instead of JupyterLab")
    return parser.parse_args(argv)


def run_command(command: list[str], env: dict) -> None:
    """Replace this process by ``command`` (found on the venv-first PATH); 127 when there is none."""
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - becomes the user's command
    except FileNotFoundError:
        log(f"command not found: {command[0]}")
        sys.exit(127)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        file_settings = json.loads(Path(args.config).read_text(encoding="utf-8"))
    except FileNotFoundError:
        file_settings = {}
    settings = merge_settings(file_settings, {key: getattr(args, key) for key in SETTINGS}, dict(os.environ))
    notebooks = Path(settings["notebooks"])
    notebooks.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(settings["user"])
        chown_tree(notebooks, entry.pw_uid, entry.pw_gid)
        fix_docker_socket(settings)
        drop_privileges(settings["user"])
    copied = copy_defaults(Path(settings["notebook_defaults"]), notebooks)
    log(f"copied {copied} default notebook files into {notebooks} (existing files are never overwritten)")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(notebooks)
    env = jupyter_environment(settings, dict(os.environ))
    if args.command:
        run_command(args.command, env)
    password = os.environ.get(PASSWORD_ENV)
    if password:
        set_password(settings, password)
    print(welcome(settings["port"], password_state(settings, bool(password))), end="", flush=True)
    command = jupyter_command(settings)
    os.execve(command[0], command, env)  # noqa: S606 - becomes jupyter-lab


if __name__ == "__main__":
    main()
