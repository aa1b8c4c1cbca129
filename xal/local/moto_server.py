"""An embedded AWS emulator for the offline rehearsal and the tests.

moto's ThreadedMotoServer listens on 127.0.0.1 on a free port; every run gets its own server so
state never leaks between runs. The EC2 ExportImage actions moto lacks are added by
:mod:`xal.local.moto_export` when export is rehearsed.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from xal.errors import XalError


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on 127.0.0.1:<free port>; yields the endpoint URL and stops the server afterwards."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise XalError("the offline rehearsal needs moto: pip install 'xal[local]'") from None
    # the emulator's own request log and server-side tracebacks (e.g. an action moto lacks) are not
    # xal's output: the client sees the failure as an AWS error anyway
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start from an empty account every time
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback http
    opener.open(reset, timeout=10).close()
    try:
        yield endpoint
    finally:
        server.stop()
