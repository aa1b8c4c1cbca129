"""Run the real ``xal`` command line as a child process, the way a release engineer does."""

from __future__ import annotations

import subprocess
import sys

# what the build commands need besides the guard environment of tests/conftest.py
BUILD_PASSWORD_ENV = {"XAL_DEFAULT_PASSWORD": "Build-Secret-42"}


def run_xal(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``python -m xal ARGS`` with ``env``; never reads the terminal (stdin is /dev/null)."""
    return subprocess.run(
        [sys.executable, "-m", "xal", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
