"""What the first-boot spec is given: the booted machines, the image's default credentials and the
identity of the machine the image was built on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xal import defaults

PROMPT_TIMEOUT_SECONDS = 30.0  # for each prompt of a login (password, shell, a command's own prompts)


@dataclass(frozen=True)
class Machine:
    """One booted instance of the image, as a user reaches it."""

    name: str  # container name or instance id, for messages
    host: str
    ssh_port: int = defaults.SSH_PORT
    jupyter_port: int = defaults.JUPYTER_PORT
    prompt_timeout: float = PROMPT_TIMEOUT_SECONDS  # an emulated VM (QEMU's TCG) logs in many times slower

    @property
    def jupyter_url(self) -> str:
        return f"http://{self.host}:{self.jupyter_port}"


@dataclass(frozen=True)
class BuildIdentity:
    """The build machine's identity, recorded by the playbook before its hygiene removed it
    (``ansible/roles/ai_lab_hygiene/tasks/build_identity.yml``): a booted image must carry none of it."""

    build_user: str = ""
    host_keys: tuple[str, ...] = ()  # "ssh-ed25519 AAAA... comment"
    machine_id: str = ""
    authorized_keys: tuple[str, ...] = ()
    ca_certificates: tuple[str, ...] = ()  # PEM, the build's extra CAs (a TLS-intercepting proxy's)

    @classmethod
    def of(cls, recorded: dict[str, Any] | None) -> BuildIdentity | None:
        if not recorded:
            return None
        return cls(
            build_user=str(recorded.get("build_user") or ""),
            host_keys=tuple(recorded.get("host_keys") or ()),
            machine_id=str(recorded.get("machine_id") or ""),
            authorized_keys=tuple(recorded.get("authorized_keys") or ()),
            ca_certificates=tuple(recorded.get("ca_certificates") or ()),
        )


@dataclass(frozen=True)
class SpecInput:
    """Everything the spec needs; the passwords are registered secrets and never leave the process
    except typed into the machine's own prompts."""

    machine: Machine
    os_password: str  # the image's default OS password (expired: the first login must change it)
    jupyter_password: str  # the image's Jupyter password
    os_user: str = defaults.SSH_USERNAME
    sibling: Machine | None = None  # a second instance of the same image (host keys must differ)
    # the sibling's host key ("type base64"), read while it ran: a VM sibling is stopped before the
    # spec runs, because two emulated VMs on two cores slow each other's logins past their timeouts
    sibling_host_key: str = ""
    identity: BuildIdentity | None = None
    build_key: Path | None = None  # the private key the build logged in with, when known
    boot_timeout: float = defaults.BOOT_TIMEOUT_SECONDS
    vm: bool = False  # a VM (not a container): its own kernel and network, checked too
