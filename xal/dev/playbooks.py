"""``xal install-dependencies`` and ``xal reset-password``: the playbooks against an existing host."""

from __future__ import annotations

from typing import Any

from xal.ansible.runner import AnsibleTarget, PlaybookObserver, PlaybookResult, PlaybookRunner
from xal.config import Settings
from xal.image.playbook_vars import default_os_password_hash, playbook_vars
from xal.secrets import AskSecret

INSTALL_PLAYBOOK = "ai_lab.yml"
RESET_PLAYBOOK = "reset_password.yml"
# Configuration only: the finish (tag sysprep) expires the password and removes the login key,
# which is right for an image but locks a developer out of the host they are working on.
INSTALL_CMDLINE = "--skip-tags sysprep"


def install_dependencies(
    settings: Settings,
    target: AnsibleTarget,
    extra_vars: dict[str, Any] | None = None,
    runner: PlaybookRunner | None = None,
    observer: PlaybookObserver | None = None,
) -> PlaybookResult:
    """Install the AI-Lab (EC2 variant, configuration play) on ``target``; ``observer`` sees the tasks."""
    values = {
        **(extra_vars or {}),
        **playbook_vars(settings, os_password=False),
        "ai_lab_target": "ec2",
    }
    return (runner or PlaybookRunner()).run(
        INSTALL_PLAYBOOK, target, values, cmdline=INSTALL_CMDLINE, title="install-dependencies", observer=observer
    )


def reset_password(
    target: AnsibleTarget,
    ask_secret: AskSecret | None = None,
    extra_vars: dict[str, Any] | None = None,
    runner: PlaybookRunner | None = None,
    observer: PlaybookObserver | None = None,
) -> PlaybookResult:
    """Set the login user's password (hashed here), expire it and enable SSH password login.

    The password comes from XAL_DEFAULT_PASSWORD, else from ``ask_secret`` (None: it must be set).
    """
    values = {
        **(extra_vars or {}),
        "ai_lab_os_user": target.user,
        "ai_lab_os_password_hash": default_os_password_hash(ask_secret),
    }
    return (runner or PlaybookRunner()).run(RESET_PLAYBOOK, target, values, title="reset-password", observer=observer)
