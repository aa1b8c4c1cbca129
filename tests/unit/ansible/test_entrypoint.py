"""The pure parts of the Docker image's entrypoint (ansible/roles/ai_lab_entrypoint/files/entrypoint.py).

The whole entrypoint (privilege drop, groupmod, JupyterLab start, commands) runs against the built
image in tests/integration/test_build_docker.py.
"""

from __future__ import annotations

import importlib.util
import stat
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "ansible/roles/ai_lab_entrypoint/files/entrypoint.py"
_spec = importlib.util.spec_from_file_location("ai_lab_entrypoint", SCRIPT)
entrypoint = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = entrypoint  # dataclasses look their module up there
_spec.loader.exec_module(entrypoint)

FILE_SETTINGS = {
    "user": "jupyter",
    "group": "jupyter",
    "docker_group": "docker",
    "docker_socket": "/var/run/docker.sock",
    "home": "/home/jupyter",
    "venv": "/home/jupyter/jupyterenv",
    "port": 49494,
    "notebooks": "/home/jupyter/notebooks",
    "notebook_defaults": "/home/jupyter/notebook-defaults",
}
SOCKET_RW = stat.S_IFSOCK | 0o660


def test_merge_settings_cli_overrides_file() -> None:
    merged = entrypoint.merge_settings(FILE_SETTINGS, {"port": "8888", "user": None})
    assert merged["port"] == 8888
    assert merged["user"] == "jupyter"


def test_merge_settings_environment_between_file_and_cli() -> None:
    environ = {"NOTEBOOKS": "/data/nb", "JUPYTER_VENV": "/opt/venv", "NOTEBOOK_DEFAULTS": "", "HOME": "/root"}
    merged = entrypoint.merge_settings(FILE_SETTINGS, {"venv": "/cli/venv"}, environ)
    assert merged["notebooks"] == "/data/nb"  # the image's environment overrides the file
    assert merged["venv"] == "/cli/venv"  # an option overrides the environment
    assert merged["notebook_defaults"] == "/home/jupyter/notebook-defaults"  # empty variables do not count
    assert merged["home"] == "/home/jupyter"  # only the image's three variables are read
    assert merged["default_password"] is None  # optional


def test_merge_settings_names_missing_settings() -> None:
    with pytest.raises(ValueError, match="missing entrypoint settings: home, venv"):
        entrypoint.merge_settings({**FILE_SETTINGS, "home": "", "venv": None}, {})


def test_cli_accepts_every_setting() -> None:
    args = entrypoint.parse_args(["--docker-group", "dock", "--notebook-defaults", "/d", "--port", "1"])
    assert (args.docker_group, args.notebook_defaults, args.port) == ("dock", "/d", "1")
    assert args.config == entrypoint.CONFIG_FILE
    assert args.command == []


def test_words_after_the_options_are_the_command() -> None:
    args = entrypoint.parse_args(["--port", "1", "bash", "-c", "ls --all"])
    assert (args.port, args.command) == ("1", ["bash", "-c", "ls --all"])
    assert entrypoint.parse_args(["python", "--version"]).command == ["python", "--version"]


def test_socket_with_docker_gid_needs_nothing() -> None:
    assert entrypoint.socket_plan(SOCKET_RW, 999, 999, "docker") == entrypoint.SocketPlan()


def test_socket_with_unused_gid_moves_the_docker_group() -> None:
    assert entrypoint.socket_plan(SOCKET_RW, 4242, 999, None) == entrypoint.SocketPlan(groupmod_gid=4242)


def test_socket_with_gid_of_another_group_reuses_that_group() -> None:
    assert entrypoint.socket_plan(SOCKET_RW, 0, 999, "root") == entrypoint.SocketPlan(extra_group="root")


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o620])
def test_socket_without_group_rw_is_refused(mode: int) -> None:
    with pytest.raises(PermissionError, match=rf"its group may not read and write it \(mode 0{mode:o}\)"):
        entrypoint.socket_plan(stat.S_IFSOCK | mode, 4242, 999, None)


def test_missing_copies_never_overwrites(tmp_path: Path) -> None:
    defaults, target = tmp_path / "defaults", tmp_path / "notebooks"
    (defaults / "sub").mkdir(parents=True)
    (defaults / "start.ipynb").write_text("default")
    (defaults / "sub" / "a.ipynb").write_text("a")
    target.mkdir()
    (target / "start.ipynb").write_text("user's own")

    pairs = entrypoint.missing_copies(defaults, target)
    assert [(s.relative_to(defaults), d.relative_to(target)) for s, d in pairs] == [
        (Path("sub"), Path("sub")),
        (Path("sub/a.ipynb"), Path("sub/a.ipynb")),
    ]

    assert entrypoint.copy_defaults(defaults, target) == 1  # files, not folders
    assert (target / "start.ipynb").read_text() == "user's own"
    assert (target / "sub" / "a.ipynb").read_text() == "a"
    assert entrypoint.missing_copies(defaults, target) == []


def test_copy_defaults_without_defaults_folder(tmp_path: Path) -> None:
    assert entrypoint.copy_defaults(tmp_path / "absent", tmp_path) == 0


def test_with_password_hash_keeps_other_settings() -> None:
    config = {"IdentityProvider": {"hashed_password": "old", "token": ""}, "ServerApp": {"x": 1}}
    updated = entrypoint.with_password_hash(config, "argon2:new")
    assert updated == {"IdentityProvider": {"hashed_password": "argon2:new", "token": ""}, "ServerApp": {"x": 1}}
    assert config["IdentityProvider"]["hashed_password"] == "old"  # not modified in place
    assert entrypoint.with_password_hash({}, "h") == {"IdentityProvider": {"hashed_password": "h"}}


def test_jupyter_command_and_environment() -> None:
    settings = entrypoint.merge_settings(FILE_SETTINGS, {})
    assert entrypoint.jupyter_command(settings) == [
        "/home/jupyter/jupyterenv/bin/jupyter-lab",
        "--notebook-dir=/home/jupyter/notebooks",
        "--port=49494",
        "--ip=*",
        "--no-browser",
    ]
    env = entrypoint.jupyter_environment(settings, {"PATH": "/usr/bin", "JUPYTER_PASSWORD": "x", "TERM": "xterm"})
    assert "JUPYTER_PASSWORD" not in env  # the clear text does not reach the server's environment
    assert env["PATH"] == "/home/jupyter/jupyterenv/bin:/usr/bin"
    assert (env["HOME"], env["USER"], env["TERM"]) == ("/home/jupyter", "jupyter", "xterm")
    # the tutorials keep their configuration store in NOTEBOOKS; kernels inherit the server's environment
    assert (env["NOTEBOOKS"], env["JUPYTER_VENV"], env["NOTEBOOK_DEFAULTS"]) == (
        "/home/jupyter/notebooks",
        "/home/jupyter/jupyterenv",
        "/home/jupyter/notebook-defaults",
    )


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (
            "default",
            "The default Jupyter password 'ailab' is in use; set your own with docker run --env JUPYTER_PASSWORD=",
        ),
        ("env", "Log in with the password you gave in JUPYTER_PASSWORD."),
        ("custom", "Log in with the Jupyter password this image was built with."),
    ],
)
def test_welcome_names_url_and_password(state: str, says: str) -> None:
    text = entrypoint.welcome(49494, state)
    assert "http://localhost:49494/" in text
    assert says in text
    assert len(text.splitlines()) == 3  # short
