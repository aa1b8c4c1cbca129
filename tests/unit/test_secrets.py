import logging

import pytest

from xal import secrets
from xal.cli.main import run_cli
from xal.console import setup_logging


def test_registered_secrets_are_masked_in_logs(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info")
    secrets.register_secret("hunter2-secret")
    logging.getLogger("xal.test").warning("token is %s", "hunter2-secret")
    assert "hunter2-secret" not in capsys.readouterr().err
    assert secrets.redact("a hunter2-secret b") == "a *** b"


def test_short_values_are_not_treated_as_secrets() -> None:
    secrets.register_secret("ab")
    assert secrets.redact("ab cd") == "ab cd"


def test_secret_from_env_takes_first_set_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_github_token")
    assert secrets.secret_from_env("GH_TOKEN", "GITHUB_TOKEN") == "ghp_from_github_token"
    assert secrets.redact("x ghp_from_github_token") == "x ***"


def test_errors_shown_to_the_user_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register_secret("passw0rd-in-config")
    assert run_cli(["show-config", "--asset-id", "passw0rd-in-config/"]) == 2
    assert "passw0rd-in-config" not in capsys.readouterr().err
