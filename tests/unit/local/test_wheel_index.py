"""The local stand-in of an extra package index: PEP 503 pages for the wheels in a folder, nothing else."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from xal.errors import UsageError
from xal.local.wheel_index import serve_wheel_index

WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"


def _get(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, past the guard
    with opener.open(url, timeout=10) as response:
        return response.read().decode()


def test_the_index_lists_each_wheel_with_its_hash_and_has_no_fallback(tmp_path: Path) -> None:
    (tmp_path / WHEEL).write_bytes(b"wheel bytes")
    with serve_wheel_index(tmp_path, host="127.0.0.1") as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/simple")
        assert 'href="torch/"' in _get(f"{url}/")
        page = _get(f"{url}/torch/")
        digest = hashlib.sha256(b"wheel bytes").hexdigest()
        assert f"{WHEEL}#sha256={digest}" in page
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(f"{url}/numpy/")  # a package it lacks is not looked up on PyPI
        assert missing.value.code == 404


def test_a_folder_without_wheels_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no wheels in"), serve_wheel_index(tmp_path, host="127.0.0.1"):
        pass
