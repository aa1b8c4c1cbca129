"""Password hashing done locally, so clear-text passwords never reach Ansible, argv or logs.

SHA-512 crypt (``$6$``) for the OS account via passlib (the stdlib ``crypt`` module is gone in
Python 3.13); the Jupyter server hash in the ``sha1:<salt>:<hex>`` format that
``jupyter_server.auth.passwd_check`` verifies, computed without importing jupyter.
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets

from xal.errors import UsageError

MIN_PASSWORD_LENGTH = 4


def _checked(password: str) -> str:
    """Reject passwords too short to be one (registration as a secret happens where it is read)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def os_password_hash(password: str) -> str:
    from passlib.hash import sha512_crypt

    return sha512_crypt.using(rounds=656000).hash(_checked(password))


def jupyter_password_hash(password: str) -> str:
    salt = pysecrets.token_hex(6)
    digest = hashlib.sha1((_checked(password) + salt).encode(), usedforsecurity=False).hexdigest()
    return f"sha1:{salt}:{digest}"
