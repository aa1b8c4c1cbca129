"""xal names the Packer versions it supports, and the release buildspec installs one of them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from xal.errors import XalError
from xal.packer.binary import CURRENT_RANGE, check_supported

BUILDSPEC = Path(__file__).resolve().parents[3] / "aws-code-build" / "ci" / "buildspec_release.yaml"


@pytest.mark.parametrize("version", [(1, 6, 6), (1, 10, 0), (1, 16, 3)])
def test_checked_versions_build_silently(version: tuple[int, int, int], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="xal"):
        check_supported(version)
    assert caplog.records == []


@pytest.mark.parametrize(("version", "what"), [((1, 17, 0), "newer than checked"), ((1, 8, 7), "not checked")])
def test_unchecked_versions_warn_in_one_line(
    version: tuple[int, int, int], what: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="xal"):
        check_supported(version)
    (record,) = caplog.records
    assert what in record.getMessage() and "1.6.6 and 1.10-1.16" in record.getMessage()


@pytest.mark.parametrize("version", [(2, 0, 0), (1, 5, 9), (0, 12, 0)])
def test_unknown_generations_are_refused(version: tuple[int, int, int]) -> None:
    with pytest.raises(XalError, match="is not supported"):
        check_supported(version)


def test_the_release_buildspec_installs_a_pinned_supported_packer() -> None:
    spec = yaml.safe_load(BUILDSPEC.read_text())
    version = tuple(int(p) for p in spec["env"]["variables"]["PACKER_VERSION"].split("."))
    assert CURRENT_RANGE[0] <= version[:2] <= CURRENT_RANGE[1]
    installs = [c for c in spec["phases"]["install"]["commands"] if "apt-get install" in c and "packer" in c]
    assert installs and all('"packer=${PACKER_VERSION}-1"' in c for c in installs)
