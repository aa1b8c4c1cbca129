"""Variables xal hands to the AI-Lab playbook: password hashes and the host's extra CA certificates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from xal.ca_certs import CaBundle
from xal.config import Settings
from xal.errors import UsageError
from xal.passwords import jupyter_password_hash, os_password_hash
from xal.secrets import register_secret, secret_from_env

OS_PASSWORD_ENV = "XAL_DEFAULT_PASSWORD"  # noqa: S105 - a variable name
JUPYTER_PASSWORD_ENV = "XAL_JUPYTER_PASSWORD"  # noqa: S105 - a variable name


def _os_password(interactive: bool) -> str:
    password = secret_from_env(OS_PASSWORD_ENV)
    if password:
        return password
    if interactive and sys.stdin.isatty():
        import typer

        prompted = typer.prompt("Default OS password (expired at login)", hide_input=True, confirmation_prompt=True)
        return register_secret(prompted) or prompted
    raise UsageError(f"set {OS_PASSWORD_ENV} to the image's default OS password (it is expired at first login)")


def default_os_password_hash(interactive: bool) -> str:
    """SHA-512 crypt of the OS password from XAL_DEFAULT_PASSWORD or a prompt (clear text stays here)."""
    return os_password_hash(_os_password(interactive))


def playbook_vars(settings: Settings, interactive: bool, os_password: bool = True) -> dict[str, Any]:
    """Hashes (never clear text) plus CA certificates; the playbook's defaults cover the rest."""
    values: dict[str, Any] = {}
    if os_password:
        values["ai_lab_os_password_hash"] = os_password_hash(_os_password(interactive))
    jupyter = secret_from_env(JUPYTER_PASSWORD_ENV)
    if jupyter:
        values["ai_lab_jupyter_password_hash"] = jupyter_password_hash(jupyter)
    bundle = CaBundle.from_host(list(settings.extra_ca_certs))
    values["ai_lab_extra_ca_certificates"] = [
        {"name": name, "content": content.decode()} for name, content in bundle.certificates
    ]
    return values


def load_vars_file(path: Path | None) -> dict[str, Any]:
    """Extra playbook variables from a YAML or JSON file (``--playbook-vars``), e.g. pinned versions."""
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"playbook variables file {path} not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"playbook variables file {path} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UsageError(f"playbook variables file {path} must hold a mapping of variable names to values")
    return data


def build_vars(
    settings: Settings, vars_file: Path | None, interactive: bool, os_password: bool = True
) -> dict[str, Any]:
    """``--playbook-vars`` under what xal computes: hashes and certificates always win over the file."""
    return {**load_vars_file(vars_file), **playbook_vars(settings, interactive, os_password)}
