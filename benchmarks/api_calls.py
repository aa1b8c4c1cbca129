"""API economy: how many AWS calls a rehearsed AMI build and VM export make, by action.

Every request that reaches the embedded moto server is counted (the WSGI app is wrapped for the
duration of the run), so the figures include Packer's own calls and the rehearsal's setup
(ImportKeyPair, the bucket stack). Polling calls (Describe*) are shown separately: they are what
backoff keeps small. S3 calls show as method + path. Export scheduling under load is measured by
benchmarks/export_scheduling.py.

    python3 benchmarks/api_calls.py
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

CALLS: Counter[str] = Counter()


def _action(environ: dict[str, Any]) -> str:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    query = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode(errors="replace"))
    if "Action" in query:
        return query["Action"][0]
    target = environ.get("HTTP_X_AMZ_TARGET")
    return target.rsplit(".", 1)[-1] if target else f"{environ['REQUEST_METHOD']} {environ['PATH_INFO'][:40]}"


def _counting(original: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            CALLS[_action(environ)] += 1
        return original(self, environ, start_response)

    return call


def main() -> None:
    os.environ.setdefault("XAL_STATE_DIR", tempfile.mkdtemp(prefix="xal-bench-"))
    DomainDispatcherApplication.__call__ = _counting(DomainDispatcherApplication.__call__)  # type: ignore[method-assign]
    from xal.config import Settings
    from xal.rehearsal import rehearse

    started = time.perf_counter()
    manifest = rehearse(Settings(asset_id=f"calls-{int(time.time())}"), quick=True)
    seconds = time.perf_counter() - started
    polling = {a: n for a, n in CALLS.items() if a.startswith("Describe")}
    amis, images = len(manifest.amis), len(manifest.vm_images)
    print(f"rehearsed AMI build ({amis} AMIs) and export ({images} images) in {seconds:.1f} s")
    print(f"  AWS calls in total: {sum(CALLS.values())}, of which Describe*: {sum(polling.values())}")
    for action, count in CALLS.most_common():
        print(f"    {count:4d}  {action}")


if __name__ == "__main__":
    main()
