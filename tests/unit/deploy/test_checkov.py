"""checkov over cloudformation/: no failed check, and every suppression justified where it lives.

checkov (pinned in scripts/checkov-requirements.txt) runs from its own virtualenv `.venv-checkov`,
which scripts/bootstrap creates: it cannot share `.venv` with xal (see that file). Suppressions use
checkov's own syntax in the resource's Metadata (`checkov: skip: - id: ... comment: ...`); each
needs a one-line reason and a row in the README's security table (cloudformation/README.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CFN_DIR = REPO / "cloudformation"
CHECKOV_VENV = REPO / ".venv-checkov"
SECURITY_README = CFN_DIR / "README.md"


def checkov() -> str:
    exe = CHECKOV_VENV / "bin" / "checkov"
    if exe.exists():
        return str(exe)
    found = shutil.which("checkov")
    if found is not None:
        return found
    if os.environ.get("CI"):
        pytest.fail("checkov is missing in CI: scripts/bootstrap installs it into .venv-checkov")
    pytest.skip("checkov is not installed (scripts/bootstrap puts it into .venv-checkov)")


def scan(directory: Path) -> dict[str, Any]:
    """checkov's JSON report for the CloudFormation templates in `directory`, offline."""
    result = subprocess.run(
        [checkov(), "--directory", str(directory), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
    return report


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return scan(CFN_DIR)


def _failures(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['file_path']} {c['resource']}" for c in report["results"].get("failed_checks", [])]


def _skips(report: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(template, resource logical id, check id) -> the suppression's comment."""
    return {
        (c["file_path"].lstrip("/"), c["resource"].split(".")[-1], c["check_id"]): c["check_result"].get(
            "suppress_comment", ""
        )
        for c in report["results"].get("skipped_checks", [])
    }


def test_checkov_reports_no_failed_check(report: dict[str, Any]) -> None:
    assert not _failures(report), "\n".join(_failures(report))
    assert report["summary"]["passed"] > 40  # it did scan the four templates
    assert report["summary"]["resource_count"] >= 15


def test_every_suppression_has_a_one_line_reason(report: dict[str, Any]) -> None:
    skips = _skips(report)
    assert skips
    for where, comment in skips.items():
        assert len(comment.split()) >= 6, (where, comment)  # a reason, not "n/a"
        assert "\n" not in comment.strip(), where


def _readme_rows() -> set[tuple[str, str, str]]:
    """(template, resource, check) rows of the README's suppressed-checks table."""
    rows = set()
    for line in SECURITY_README.read_text().splitlines():
        m = re.match(r"\|\s*`(CKV_AWS_\d+)`\s*\|\s*`([\w-]+\.yaml)`\s*\|\s*`(\w+)`\s*\|\s*\S", line)
        if m:
            rows.add((m.group(2), m.group(3), m.group(1)))
    return rows


def test_readme_lists_exactly_the_suppressed_checks(report: dict[str, Any]) -> None:
    assert _readme_rows() == set(_skips(report))


def test_checkov_fails_a_public_bucket_and_an_unjustified_wildcard(tmp_path: Path) -> None:
    """The scan is not vacuous: a bucket without its public access block, or a CodeBuild role with
    the old `ec2:*`-style write on "*", are failed checks."""
    broken = tmp_path / "templates"
    broken.mkdir()
    bucket = (CFN_DIR / "vm-bucket.yaml").read_text()
    public = bucket.replace("RestrictPublicBuckets: true", "RestrictPublicBuckets: false")
    (broken / "vm-bucket.yaml").write_text(public)
    role = (CFN_DIR / "release-codebuild.yaml").read_text()
    anchor = "              - Sid: Ec2Read\n"
    wildcard = (
        "              - Sid: Broad\n                Effect: Allow\n                Action: ec2:TerminateInstances\n"
        '                Resource: "*"\n'
    )
    (broken / "release-codebuild.yaml").write_text(role.replace(anchor, wildcard + anchor))
    failed = {f.split()[0] for f in _failures(scan(broken))}
    assert {"CKV_AWS_56", "CKV_AWS_111"} <= failed, failed
