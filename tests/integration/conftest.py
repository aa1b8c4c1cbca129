"""Fixtures the integration tests share (the moto server, images and sshd target are in tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.xal_cli import BUILD_PASSWORD_ENV


@pytest.fixture
def xal_env(tmp_path: Path) -> dict[str, str]:
    """The environment for ``run_xal``: this process's (guard included), a private state folder."""
    return {**os.environ, "XAL_STATE_DIR": str(tmp_path / "state"), **BUILD_PASSWORD_ENV}
