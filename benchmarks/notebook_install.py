"""What installing the AI-Lab's Python packages costs, with and without the CPU-only torch index.

    python3 benchmarks/notebook_install.py [--variant cpu|pypi ...] [--wheels DIR] [--image IMAGE]

Installs the pinned requirements of the playbook (ai_lab_jupyter + ai_lab_notebooks role defaults)
into a fresh virtualenv in a container, the way the playbook does, and prints per variant:
packages, bytes downloaded (the files pip chose, sized by HTTP HEAD), pip's wall time, the size of
the virtualenv and the size the install adds to a Docker image (docker commit).

  cpu   PyPI plus the extra index (the default https://download.pytorch.org/whl/cpu; with --wheels
        DIR a PEP 503 index served from the wheels in DIR, as the offline tests do)
  pypi  PyPI only: torch is the CUDA build with its nvidia-* and triton wheels

Heavy (the pypi variant downloads about 3 GB): run it under `flock /tmp/xal-heavy.lock`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xal import defaults  # noqa: E402
from xal.config import Settings  # noqa: E402
from xal.image.python_packages import python_packages  # noqa: E402
from xal.local.images import prepare_local_images  # noqa: E402
from xal.local.wheel_index import serve_wheel_index  # noqa: E402

VENV = "/opt/bench-venv"


def sh(container: str, script: str) -> str:
    result = subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{script[:80]}... failed: {result.stderr[-2000:]}")
    return result.stdout


def head_size(url: str) -> int:
    """Size of a file pip chose; the local index on the bridge is reached without any proxy."""
    local = (urllib.parse.urlsplit(url).hostname or "").startswith("172.")
    opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if local else []))
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - https from pip's report, or the local index
    with opener.open(request, timeout=60) as response:
        return int(response.headers["Content-Length"])


def image_size(reference: str) -> int:
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", reference], capture_output=True)
    return int(out.stdout)


@contextlib.contextmanager
def index_for(variant: str, wheels: Path | None) -> Iterator[str]:
    if variant == "pypi":
        yield ""
    elif wheels is not None:
        with serve_wheel_index(wheels) as url:
            yield url
    else:
        yield defaults.PIP_EXTRA_INDEX_URL


def measure(image: str, requirements: list[str], index: str) -> dict:
    name = f"xal-bench-pip-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, image, "sleep", "infinity"], check=True, capture_output=True)
    committed = f"xal-bench/pip:{uuid.uuid4().hex[:8]}"
    try:
        sh(name, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -qq -y python3-venv >/dev/null")
        sh(name, f"python3 -m venv {VENV}")
        subprocess.run(["docker", "commit", name, f"{committed}-base"], check=True, capture_output=True)
        args = ["--extra-index-url", index] if index else []
        if index.startswith("http://"):
            args += ["--trusted-host", urllib.parse.urlsplit(index).hostname]
        quoted = " ".join(f"'{a}'" for a in [*requirements, *args])
        started = time.monotonic()
        sh(name, f"{VENV}/bin/pip install -q --no-cache-dir --report /tmp/report.json {quoted}")
        seconds = time.monotonic() - started
        report = json.loads(sh(name, "cat /tmp/report.json"))["install"]
        urls = [item["download_info"]["url"] for item in report]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            sizes = list(pool.map(head_size, urls))
        venv_bytes = int(sh(name, f"du -sb {VENV}").split()[0])
        sh(name, "rm -f /tmp/report.json")
        subprocess.run(["docker", "commit", name, committed], check=True, capture_output=True)
        added = image_size(committed) - image_size(f"{committed}-base")
        torch = next((i["metadata"]["version"] for i in report if i["metadata"]["name"] == "torch"), "-")
        nvidia = sum(1 for i in report if i["metadata"]["name"].startswith(("nvidia-", "triton")))
        return {
            "packages": len(report),
            "download": sum(sizes),
            "seconds": seconds,
            "venv": venv_bytes,
            "image_added": added,
            "torch": torch,
            "cuda_packages": nvidia,
        }
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", committed, f"{committed}-base"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", choices=["cpu", "pypi"], help="default: both")
    parser.add_argument("--wheels", type=Path, help="serve these wheels as the extra index (offline)")
    parser.add_argument("--image", help="image with python3 and apt [default: the local xal-base:bookworm]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xal-bench-") as tmp:
        image = args.image or prepare_local_images(Settings(), Path(tmp) / "images")[0]
    requirements = list(python_packages({}).requirements)
    print(f"requirements: {' '.join(requirements)}")
    print(f"image: {image}")
    results = {}
    for variant in args.variant or ["cpu", "pypi"]:
        with index_for(variant, args.wheels) as index:
            print(f"\n{variant}: extra index {index or 'none (PyPI only)'}", flush=True)
            results[variant] = figures = measure(image, requirements, index)
        print(
            f"  {figures['packages']} packages (torch {figures['torch']}, {figures['cuda_packages']} nvidia/triton), "
            f"download {figures['download'] / 1e6:.0f} MB, pip install {figures['seconds']:.0f} s, "
            f"venv {figures['venv'] / 1e9:.2f} GB, image +{figures['image_added'] / 1e9:.2f} GB",
            flush=True,
        )
    if {"cpu", "pypi"} <= results.keys():
        cpu, pypi = results["cpu"], results["pypi"]
        print(
            f"\nwithout the CPU index: download x{pypi['download'] / cpu['download']:.1f}, "
            f"time x{pypi['seconds'] / cpu['seconds']:.1f}, image x{pypi['image_added'] / cpu['image_added']:.1f}"
        )


if __name__ == "__main__":
    main()
