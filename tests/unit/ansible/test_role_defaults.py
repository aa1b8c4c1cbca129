"""Defaults that live in two places must agree: the clear-text default Jupyter password xal tells
users and the first-boot test (xal/defaults.py) and the hash the Jupyter role ships."""

from __future__ import annotations

import yaml
from argon2 import PasswordHasher

from tests.conftest import REPO
from xal import defaults


def test_the_jupyter_roles_default_hash_is_of_the_documented_password() -> None:
    role = yaml.safe_load((REPO / "ansible/roles/ai_lab_jupyter/defaults/main.yml").read_text())
    scheme, _, hashed = role["ai_lab_jupyter_password_hash"].partition(":")
    assert scheme == "argon2"  # jupyter_server's format: <scheme>:<hash>
    assert PasswordHasher().verify(hashed, defaults.JUPYTER_PASSWORD)
