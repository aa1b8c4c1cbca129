"""build-docker end to end: the CLI builds an image with Packer's docker builder and the real
playbook (real JupyterLab from PyPI); the image runs and JupyterLab answers on 49494 with the
password given through JUPYTER_PASSWORD."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from xal.local.slc_repo import serve_stand_in_repo

pytestmark = pytest.mark.integration

# real JupyterLab; the notebook packages and the Docker engine inside the image are stand-ins here
# (the real ones are installed by `xal rehearse` and the playbook tests)
DOCKER_VARS = {
    "ai_lab_notebooks_requirements": [],
    "ai_lab_notebooks_tutorials": False,
    "ai_lab_docker_packages": [],
}


def _opener(jar: http.cookiejar.CookieJar | None = None) -> urllib.request.OpenerDirector:
    """No proxies (the guard would catch loopback otherwise), cookies kept for the login."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar or http.cookiejar.CookieJar())
    )


def _wait_for(url: str, opener: urllib.request.OpenerDirector, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture
def image_name() -> str:
    name = f"xal-test/ai-lab-{uuid.uuid4().hex[:8]}"
    yield name
    tags = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", name], capture_output=True, text=True, check=False
    ).stdout.split()
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, check=False)


def test_build_docker_image_runs_jupyterlab(local_images, packer, image_name, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.yml"
    env = {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state")}
    with serve_stand_in_repo() as slc_vars:
        vars_file.write_text(yaml.safe_dump({**DOCKER_VARS, **slc_vars}))
        args = f"build-docker --asset-id 8.0.0 --repository {image_name} --base-image {local_images['base']}"
        argv = [sys.executable, "-m", "xal", *args.split(), "--no-pull", "--playbook-vars", str(vars_file), "--json"]
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    manifest = json.loads(result.stdout)
    assert manifest["docker_tags"] == [f"{image_name}:8.0.0", f"{image_name}:latest"]
    inspect = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", f"{image_name}:8.0.0"], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert inspect["Id"] == manifest["docker_image"]
    assert "49494/tcp" in inspect["Config"]["ExposedPorts"]
    assert "/home/jupyter/notebooks" in inspect["Config"]["Volumes"]

    container = f"xal-test-jupyter-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            container,
            "-e",
            "JUPYTER_PASSWORD=Test-Jupyter-7",
            "-p",
            "127.0.0.1::49494",
            f"{image_name}:8.0.0",
        ],
        check=True,
        capture_output=True,
    )
    try:
        port = (
            subprocess.run(["docker", "port", container, "49494/tcp"], capture_output=True, text=True, check=True)
            .stdout.split()[0]
            .rsplit(":", 1)[1]
        )
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = _opener(jar)
        assert _wait_for(f"{base}/login", opener) == 200
        # without logging in, the API refuses
        with pytest.raises(urllib.error.HTTPError) as denied:
            _opener().open(f"{base}/api/status", timeout=5)
        assert denied.value.code == 403
        with opener.open(f"{base}/login", timeout=10) as page:
            form = page.read().decode()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form) or next(
            (c.value for c in jar if c.name == "_xsrf"), None
        )
        xsrf = xsrf.group(1) if isinstance(xsrf, re.Match) else xsrf
        assert xsrf, form[:500]
        body = urllib.parse.urlencode({"password": "Test-Jupyter-7", "_xsrf": xsrf}).encode()
        opener.open(f"{base}/login", data=body, timeout=10).close()
        with opener.open(f"{base}/api/status", timeout=10) as response:
            assert response.status == 200
        owners = "for p in /proc/[0-9]*; do grep -qa 'jupyter[-]lab' $p/cmdline 2>/dev/null && stat -c %U $p; done"
        user = subprocess.run(
            ["docker", "exec", container, "sh", "-c", owners], capture_output=True, text=True, check=False
        ).stdout.split()
        assert set(user) == {"jupyter"}, user
    finally:
        logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=False)
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        print(logs.stdout[-2000:], logs.stderr[-2000:])
