"""Where the Packer templates and the Ansible playbooks live (the repository checkout xal runs from)."""

from __future__ import annotations

import os
from pathlib import Path

from xal.errors import XalError


def project_root() -> Path:
    """The checkout holding ``packer/`` and ``ansible/``; ``XAL_HOME`` overrides it."""
    root = Path(os.environ.get("XAL_HOME") or Path(__file__).resolve().parent.parent)
    if not (root / "packer").is_dir() or not (root / "ansible").is_dir():
        raise XalError(f"{root} has no packer/ and ansible/ folders; run xal from a checkout or set XAL_HOME")
    return root


def packer_dir() -> Path:
    return project_root() / "packer"


def ansible_dir() -> Path:
    return project_root() / "ansible"


def state_dir() -> Path:
    """Per-user working state: build folders and manifests (``XAL_STATE_DIR``, default ``./.xal``)."""
    return Path(os.environ.get("XAL_STATE_DIR") or ".xal").resolve()
