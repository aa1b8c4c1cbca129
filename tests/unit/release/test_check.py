"""`xal release-check`: tag == project version == the changelog's newest entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xal import __version__
from xal.cli.main import run_cli
from xal.errors import ExitCode, UsageError
from xal.release.check import check_release, newest_entry

LOG = "# Changelog\n\n## 7.1.0\n\n- notebooks\n\n## 7.0.0\n\n- first\n"


def test_the_repository_changelog_names_the_project_version() -> None:
    assert check_release(__version__) == __version__


def test_tag_version_and_changelog_must_agree(tmp_path: Path) -> None:
    log = tmp_path / "CHANGELOG.md"
    log.write_text(LOG)
    assert check_release("7.1.0", "7.1.0", log) == "7.1.0"
    with pytest.raises(UsageError, match=re.escape("tag '7.1.1' is not the project version '7.1.0'")):
        check_release("7.1.1", "7.1.0", log)
    with pytest.raises(UsageError, match="leading 'v'"):
        check_release("v7.1.0", "7.1.0", log)
    with pytest.raises(UsageError, match=re.escape("newest entry of CHANGELOG.md names '7.1.0', not '7.2.0'")):
        check_release("7.2.0", "7.2.0", log)
    assert newest_entry("## [7.3.0] - 2026-12-01\n") == "7.3.0"


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["release-check", "--tag", __version__]) == ExitCode.OK
    assert __version__ in capsys.readouterr().out
    assert run_cli(["release-check", "--tag", "99.0.0"]) == ExitCode.USAGE
    assert "error: tag '99.0.0' is not the project version" in capsys.readouterr().err
