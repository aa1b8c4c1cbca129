"""Secrets are registered when read and masked wherever text leaves the process.

Passwords, GitHub tokens and registry passwords reach child processes only through the
environment (never argv) and must never show up in logs, error messages or CodeBuild
plaintext variables. Registering each secret once lets every output path mask it without
knowing where it came from.
"""

from __future__ import annotations

import logging
import os

MASK = "***"
_SECRETS: set[str] = set()
MIN_SECRET_LEN = 4  # shorter strings would mask ordinary words


def register_secret(value: str | None) -> str | None:
    if value and len(value) >= MIN_SECRET_LEN:
        _SECRETS.add(value)
    return value


def secret_from_env(*names: str) -> str | None:
    """The first non-empty environment variable among ``names``, registered as a secret."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return register_secret(value)
    return None


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks registered secrets in log records (message and args, rendered once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
        return True
