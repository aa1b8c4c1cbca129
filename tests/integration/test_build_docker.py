"""The AI-Lab Docker image as users get it: built by ``xal build-docker`` (Packer's docker builder,
the real playbook, from a base without python3 and sudo like ubuntu:24.04) with the real content -
JupyterLab, the notebook connector and its tutorials, torch from the (local stand-in of the) CPU
index, docker.io - once per test run (tests/integration/ai_lab_image.py), then started the ways
upstream's users start it: with a volume or a bind mount, the host's Docker socket, a password,
a command."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.integration.ai_lab_checks import (
    NOTEBOOKS,
    START_PAGE,
    VENV,
    check_ai_lab,
    notebooks_in,
    run_in,
)
from tests.integration.ai_lab_image import ContentImage, content_image, index_args, resolve
from tests.integration.ansible_helpers import jupyter_login
from xal.local.wheel_index import serve_wheel_index

pytestmark = pytest.mark.integration

JUPYTER_UID = 1001


@pytest.fixture(scope="session")
def ai_lab(local_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ContentImage:
    if subprocess.run(["which", "packer"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs packer (scripts/bootstrap installs it)")
    image = content_image(local_images["base"], tmp_path_factory.mktemp("content-image"))
    size = json.loads(
        subprocess.run(["docker", "image", "inspect", image.reference], capture_output=True, check=True).stdout
    )[0]["Size"]
    built = f"built in {image.build_seconds:.0f} s" if image.build_seconds else "reused from an earlier run"
    content = "the documented SUBSET (no CPU torch wheel here)" if image.subset else "the full set"
    print(f"\nAI-Lab image {image.reference}: {built}, {size / 1e9:.2f} GB, {content}, index {image.extra_index!r}")
    return image


@pytest.fixture
def start(ai_lab: ContentImage) -> Iterator[Callable[..., str]]:
    """Starts containers of the image (docker run -d OPTIONS IMAGE [COMMAND]); all removed afterwards."""
    names: list[str] = []

    def run(*options: str, command: tuple[str, ...] = ()) -> str:
        name = f"xal-test-ailab-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["docker", "run", "-d", "--name", name, *options, ai_lab.reference, *command],
            check=True,
            capture_output=True,
        )
        names.append(name)
        return name

    yield run
    for name in names:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def logs(container: str) -> str:
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def wait_for_log(container: str, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        output = logs(container)
        if text in output:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log of {container}:\n{output[-4000:]}")
        time.sleep(1)


def test_image_conventions_and_manifest(ai_lab: ContentImage) -> None:
    manifest = ai_lab.manifest
    assert manifest["docker_tags"] == [ai_lab.reference]
    config = json.loads(
        subprocess.run(["docker", "image", "inspect", ai_lab.reference], capture_output=True, check=True).stdout
    )[0]
    assert config["Id"] == manifest["docker_image"]
    assert "49494/tcp" in config["Config"]["ExposedPorts"]
    assert NOTEBOOKS in config["Config"]["Volumes"]
    env = dict(item.split("=", 1) for item in config["Config"]["Env"])
    assert (env["JUPYTER_VENV"], env["NOTEBOOKS"], env["NOTEBOOK_DEFAULTS"]) == (
        VENV,
        NOTEBOOKS,
        "/home/jupyter/notebook-defaults",
    )
    labels = config["Config"]["Labels"]
    assert labels["org.exasol.ai-lab.python.exasol-notebook-connector"] == "3.1.0"
    assert manifest["extra"]["python"]["requirements"][-len(ai_lab.requirements) :] == ai_lab.requirements
    assert manifest["extra"]["python"]["extra_index_url"] == ai_lab.extra_index


def test_a_user_finds_the_tutorials_and_can_run_their_first_cells(ai_lab: ContentImage, start) -> None:
    container = start("--volume", f"xal-test-nb-{uuid.uuid4().hex[:8]}:{NOTEBOOKS}")
    # the welcome, then JupyterLab's own log (docker logs shows what JupyterLab writes)
    output = wait_for_log(container, "is running at:")
    assert "Open http://localhost:49494/" in output
    assert "The default Jupyter password 'ailab' is in use; set your own with docker run --env JUPYTER_PASSWORD=" in (
        output
    )
    assert output.index("Exasol AI-Lab: JupyterLab starts") < output.index("Jupyter Server")
    report = check_ai_lab(container, allowed_import_errors=ai_lab.allowed_import_errors)
    imports = sum(r["imports"] for r in report.imports)
    failed = len(report.import_failures)
    print(f"\n{len(report.tutorials)} notebooks, {imports} import statements, {failed} notebooks with accepted errors")
    assert any("exasol-notebook-connector" in line and "3.1.0" in line for line in report.start_page_output)
    # the default URL opens the AI-Lab's start page
    config = run_in(container, "cat", "/home/jupyter/.jupyter/jupyter_lab_config.py").stdout
    assert f'c.LabApp.default_url = "/lab/tree/{START_PAGE}"' in config


def test_the_full_set_resolves_against_the_configured_indexes(ai_lab: ContentImage) -> None:
    """pip's own resolution of the pinned set, in a fresh virtualenv in the image, against the
    indexes the build used: torch must be the CPU build from the extra index, no CUDA wheels."""
    from xal.image.python_packages import python_packages

    full = list(python_packages({}).requirements)
    with serve_wheel_index(Path(ai_lab.wheels)) if ai_lab.wheels else nullcontext("") as index:
        report = resolve(ai_lab.reference, full, index_args(index))
    packages = {i["metadata"]["name"].lower(): i for i in report}
    assert "exasol-notebook-connector" in packages and "jupyterlab" in packages
    cuda = sorted(n for n in packages if n.startswith(("nvidia-", "triton")))
    torch = packages["torch"]
    if ai_lab.subset:
        print(f"\nno CPU torch wheel here: resolved against PyPI only; with the CPU index torch replaces {cuda}")
        return
    assert torch["metadata"]["version"].endswith("+cpu")
    assert torch["download_info"]["url"].startswith(index.rsplit("/simple", 1)[0])
    assert cuda == []
    print(f"\nfull set: {len(packages)} packages, torch {torch['metadata']['version']} from the extra index")


def test_docker_from_the_notebooks_through_the_hosts_socket(ai_lab: ContentImage, start) -> None:
    host_socket = Path("/var/run/docker.sock")
    before = host_socket.stat()
    container = start("--volume", f"{host_socket}:/var/run/docker.sock")
    wait_for_log(container, "is running at:")
    listed = run_in(container, "docker", "ps", "--format", "{{.Names}}")
    assert listed.returncode == 0, listed.stderr
    assert container in listed.stdout.split()  # the host's daemon answered the jupyter user
    after = host_socket.stat()
    assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid) == (
        stat.S_IMODE(before.st_mode),
        before.st_uid,
        before.st_gid,
    )


def test_a_socket_only_its_owner_may_use_is_reported_and_jupyterlab_still_starts(
    ai_lab: ContentImage, start, tmp_path: Path
) -> None:
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o600)
    try:
        container = start("--volume", f"{path}:/var/run/docker.sock")
        output = wait_for_log(container, "is running at:")
    finally:
        server.close()
    assert (
        "the Docker socket /var/run/docker.sock is mounted, but its group may not read and write it (mode 0600): "
        "JupyterLab starts without Docker access" in output
    )
    assert "Traceback" not in output


def test_a_mounted_folder_is_filled_chowned_and_never_overwritten(ai_lab: ContentImage, start, tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    container = start("--volume", f"{folder}:{NOTEBOOKS}")
    wait_for_log(container, "is running at:")
    tutorials = notebooks_in(container)
    assert len(tutorials) >= 40
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [folder, *folder.rglob("*")]}
    assert owners == {(JUPYTER_UID, JUPYTER_UID)}

    edited = folder / "first_steps.ipynb"
    notebook = json.loads(edited.read_text())
    notebook["cells"].insert(0, {"cell_type": "markdown", "id": "mine", "metadata": {}, "source": ["my notes"]})
    edited.write_text(json.dumps(notebook))
    mine = edited.read_text()
    (folder / START_PAGE).unlink()  # a deleted default comes back, an edited one stays edited
    subprocess.run(["docker", "restart", container], check=True, capture_output=True)
    wait_for_log(container, "copied 1 default notebook files")
    assert edited.read_text() == mine
    assert (folder / START_PAGE).is_file()


def test_jupyter_password_and_the_jupyter_user(ai_lab: ContentImage, start, tmp_path: Path) -> None:
    """A custom password; JupyterLab as the jupyter user, core limit 0, in the group of the mounted
    socket (a host whose docker group has another GID than the image's: 4242)."""
    socket_file = tmp_path / "docker.sock"
    socket_file.touch()
    os.chown(socket_file, 0, 4242)
    socket_file.chmod(0o660)
    container = start("--env", "JUPYTER_PASSWORD=Test-Jupyter-7", "--volume", f"{socket_file}:/var/run/docker.sock")
    output = wait_for_log(container, "is running at:")
    assert "Log in with the password you gave in JUPYTER_PASSWORD." in output
    assert "Test-Jupyter-7" not in output
    assert jupyter_login(container, VENV, "Test-Jupyter-7")["status"] == 200
    assert jupyter_login(container, VENV, "ailab")["login"] == 401
    status = run_in(container, "cat", "/proc/1/status").stdout
    assert f"Uid:\t{JUPYTER_UID}\t{JUPYTER_UID}" in status  # jupyter-lab is PID 1, as the jupyter user
    assert "jupyter-lab" in run_in(container, "cat", "/proc/1/cmdline").stdout
    assert "4242" in next(line for line in status.splitlines() if line.startswith("Groups:")).split()
    assert run_in(container, "getent", "group", "docker").stdout.split(":")[2] == "4242"
    limits = run_in(container, "cat", "/proc/1/limits").stdout
    assert next(line for line in limits.splitlines() if "Max core file size" in line).split()[4:6] == ["0", "0"]


def test_docker_run_with_a_command_runs_it_instead_of_jupyterlab(ai_lab: ContentImage) -> None:
    script = 'id -un; echo "$NOTEBOOKS"; command -v ai-lab; ls "$NOTEBOOKS" | grep -c ipynb'
    result = subprocess.run(
        ["docker", "run", "--rm", ai_lab.reference, "bash", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    user, notebooks, cli, count = result.stdout.split()
    assert (user, notebooks, cli) == ("jupyter", NOTEBOOKS, f"{VENV}/bin/ai-lab")
    assert int(count) >= 2  # the defaults were copied first, as for JupyterLab
    assert "Jupyter Server" not in result.stderr

    missing = subprocess.run(
        ["docker", "run", "--rm", ai_lab.reference, "no-such-command"], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 127
    assert "ai-lab entrypoint: command not found: no-such-command" in missing.stderr


ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def test_no_jupyter_news_prompt_at_first_login(ai_lab: ContentImage, start) -> None:
    """The page config JupyterLab hands a logged-in browser disables the announcements plugin, which
    would otherwise ask "Would you like to get notified about official Jupyter news?"."""
    from xal.firstboot.jupyter_http import login, wait_for_lab
    from xal.firstboot.machine import Machine

    container = start("--publish", "127.0.0.1::49494")
    port = subprocess.run(["docker", "port", container, "49494/tcp"], capture_output=True, text=True, check=True)
    machine = Machine(container, "127.0.0.1", jupyter_port=int(port.stdout.split()[0].rsplit(":", 1)[1]))
    wait_for_lab(machine, 120)
    session = login(machine, "ailab")
    assert session is not None
    html = session.get(f"{machine.jupyter_url}/lab", timeout=20).text
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert found, html[:500]
    assert ANNOUNCEMENTS in json.loads(found.group(1)).get("disabledExtensions", [])


def test_build_docker_names_the_unreachable_registry_and_the_way_out(packer, tmp_path: Path) -> None:
    """A real Packer docker build whose base image lives on a registry nobody answers for (port 9 of
    loopback: nothing leaves the machine) fails in one line naming image, registry and the ways out."""
    image = f"127.0.0.1:9/xal-test/unreachable-{uuid.uuid4().hex[:8]}:1"
    env = {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state")}
    argv = [sys.executable, "-m", "xal", "build-docker", "--asset-id", "8.0.1", "--base-image", image]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=600)
    assert result.returncode == 5, result.stderr[-3000:]  # ExitCode.UNREACHABLE
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr  # one line; the lines before it are the live step display
    (line,) = errors
    assert result.stderr.strip().endswith(line)
    assert line.startswith(f"error: cannot pull the base image {image} from 127.0.0.1:9 ("), line
    assert "--base-image IMAGE --no-pull" in line
    assert "xal prepare-local" in line
    assert "registry-mirrors" in line
    assert "Bad exit status" not in line and "Traceback" not in result.stderr
