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


# -- where secrets come from: the environment, else an injected asker (the library never prompts) --


def test_os_password_is_asked_through_the_injected_asker_when_the_variable_is_unset() -> None:
    from passlib.hash import sha512_crypt

    from xal.config import Settings
    from xal.image.playbook_vars import build_vars

    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "Typed-Pass-42"

    values = build_vars(Settings(), None, ask_secret=ask)
    assert prompts == ["Default OS password (expired at login)"]
    assert sha512_crypt.verify("Typed-Pass-42", values["ai_lab_os_password_hash"])
    assert "Typed-Pass-42" not in repr(values)
    assert secrets.redact("pw Typed-Pass-42") == "pw ***"  # registered the moment it was typed


def test_the_variable_wins_and_nobody_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from passlib.hash import sha512_crypt

    from xal.config import Settings
    from xal.image.playbook_vars import build_vars

    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "From-Env-77")

    def ask(prompt: str) -> str:
        raise AssertionError(f"asked {prompt!r} although XAL_DEFAULT_PASSWORD is set")

    values = build_vars(Settings(), None, ask_secret=ask)
    assert sha512_crypt.verify("From-Env-77", values["ai_lab_os_password_hash"])


def test_without_an_asker_a_missing_password_names_the_variable() -> None:
    from xal.config import Settings
    from xal.errors import UsageError
    from xal.image.playbook_vars import build_vars

    with pytest.raises(UsageError, match="set XAL_DEFAULT_PASSWORD"):
        build_vars(Settings(), None)
    assert "ai_lab_os_password_hash" not in build_vars(Settings(), None, os_password=False)


def test_registry_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from xal.image.docker import RegistryCredentials

    monkeypatch.setenv("DOCKER_REGISTRY_USER", "ci-bot")
    assert RegistryCredentials.from_env() is None  # a user without a password is no login
    monkeypatch.setenv("DOCKER_REGISTRY_PASSWORD", "registry-pw-9876")
    credentials = RegistryCredentials.from_env()
    assert credentials == RegistryCredentials("ci-bot", "registry-pw-9876")
    assert "registry-pw-9876" not in repr(credentials)
    assert secrets.redact("login registry-pw-9876") == "login ***"


def test_the_cli_offers_a_prompt_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from xal.cli.prompts import secret_asker

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert secret_asker() is None  # CI: the library then says to set the variable
