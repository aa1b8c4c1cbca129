"""Secrets are registered when read and masked wherever text leaves the process.

Passwords, GitHub tokens and registry passwords reach child processes only through the
environment (never argv) and must never show up in logs, error messages or CodeBuild
plaintext variables. Registering each secret once lets every output path mask it without
knowing where it came from.

Secrets are read here only: from the environment (:func:`secret_from_env`) or, for a
:class:`SecretSource` with a prompt, from an injected :data:`AskSecret` - the library never
prompts itself; the CLI passes a hidden terminal prompt when there is a terminal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

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


AskSecret = Callable[[str], str]  # a prompt -> the secret typed (hidden), for secrets not in the environment


@dataclass(frozen=True)
class SecretSource:
    """Where one secret comes from: environment variable ``env``, else an answer to ``prompt``."""

    env: str
    prompt: str | None = None  # None: only ever read from the environment

    def read(self, ask: AskSecret | None = None) -> str | None:
        """The secret, registered for masking; None when ``env`` is unset and nobody is asked."""
        value = secret_from_env(self.env)
        if value or ask is None or self.prompt is None:
            return value
        return register_secret(ask(self.prompt))


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
