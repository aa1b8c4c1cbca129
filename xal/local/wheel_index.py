"""A package index served from a folder of wheels, standing in for an extra index offline.

Real builds take torch from PyTorch's CPU-only index (``pip_extra_index_url``), which is out of
reach where only PyPI is. Wheels that lie on the host (e.g. a CPU build of torch) are served as a
PEP 503 "simple" index by pypiserver on the Docker bridge gateway, so the build container installs
them exactly as a real build installs from the CPU index: pip gets ``--extra-index-url`` pointing
here, compares versions across both indexes and takes the ``+cpu`` build. Nothing outside the host
can reach it; it never falls back to PyPI (a package it lacks is a 404, as on the real index).
"""

from __future__ import annotations

import threading
import wsgiref.simple_server
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xal.errors import UsageError
from xal.local.bridge import docker_bridge_gateway


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a log line."""


def wheels_in(folder: Path) -> list[Path]:
    """The wheels the index will serve; a folder without any is a usage error (nothing to rehearse)."""
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if not wheels:
        raise UsageError(f"no wheels in {folder}: the local package index needs at least one *.whl")
    return wheels


@contextmanager
def serve_wheel_index(folder: Path, host: str | None = None) -> Iterator[str]:
    """Serve the wheels in ``folder`` while the context runs; yields the index URL (``.../simple``).

    ``host`` defaults to the Docker bridge gateway, the address build containers reach the host on.
    """
    import pypiserver

    wheels_in(folder)
    # read-only: no action needs a login, and pypiserver spells "no password file" as "."
    app = pypiserver.app(
        roots=[str(folder)],
        hash_algo="sha256",
        disable_fallback=True,
        authenticate=[],
        password_file=".",  # noqa: S106 - not a password
    )
    server = wsgiref.simple_server.make_server(host or docker_bridge_gateway(), 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="xal-wheel-index", daemon=True)
    thread.start()
    address, port = server.server_address[:2]
    try:
        yield f"http://{address}:{port}/simple"
    finally:
        server.shutdown()
        server.server_close()
