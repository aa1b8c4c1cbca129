"""Variables xal hands to the AI-Lab playbook: password hashes and the host's extra CA certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xal.ca_certs import CaBundle
from xal.config import Settings
from xal.errors import UsageError
from xal.passwords import jupyter_password_hash, os_password_hash
from xal.secrets import AskSecret, SecretSource

OS_PASSWORD_ENV = "XAL_DEFAULT_PASSWORD"  # noqa: S105 - a variable name
JUPYTER_PASSWORD_ENV = "XAL_JUPYTER_PASSWORD"  # noqa: S105 - a variable name
OS_PASSWORD = SecretSource(OS_PASSWORD_ENV, "Default OS password (expired at login)")
JUPYTER_PASSWORD = SecretSource(JUPYTER_PASSWORD_ENV)  # unset: the playbook's documented default
EXTRA_INDEX_VAR = "ai_lab_notebooks_extra_index_url"  # from the setting pip_extra_index_url


def _os_password(ask_secret: AskSecret | None) -> str:
    password = OS_PASSWORD.read(ask_secret)
    if password is None:
        raise UsageError(f"set {OS_PASSWORD_ENV} to the image's default OS password (it is expired at first login)")
    return password


def default_os_password_hash(ask_secret: AskSecret | None = None) -> str:
    """SHA-512 crypt of the OS password from XAL_DEFAULT_PASSWORD or ``ask_secret`` (clear text stays here)."""
    return os_password_hash(_os_password(ask_secret))


def playbook_vars(settings: Settings, ask_secret: AskSecret | None = None, os_password: bool = True) -> dict[str, Any]:
    """Hashes (never clear text), CA certificates and the extra pip index; the playbook's defaults
    cover the rest.

    The OS password comes from XAL_DEFAULT_PASSWORD, else from ``ask_secret`` (None: nobody to
    ask, so a missing variable is a UsageError that names it).
    """
    values: dict[str, Any] = {}
    if os_password:
        values["ai_lab_os_password_hash"] = os_password_hash(_os_password(ask_secret))
    jupyter = JUPYTER_PASSWORD.read()
    if jupyter:
        values["ai_lab_jupyter_password_hash"] = jupyter_password_hash(jupyter)
    bundle = CaBundle.from_host(list(settings.extra_ca_certs))
    values["ai_lab_extra_ca_certificates"] = [
        {"name": name, "content": content.decode()} for name, content in bundle.certificates
    ]
    values[EXTRA_INDEX_VAR] = settings.extra_index
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
    settings: Settings, vars_file: Path | None, ask_secret: AskSecret | None = None, os_password: bool = True
) -> dict[str, Any]:
    """``--playbook-vars`` under what xal computes: hashes and certificates always win over the file."""
    return {**load_vars_file(vars_file), **playbook_vars(settings, ask_secret, os_password)}
