"""The host's extra CA certificates, carried into containers and build targets.

A corporate proxy (or this project's CI sandbox) re-signs TLS traffic with its own CA. The host
trusts it through ``/usr/local/share/ca-certificates``; a fresh container or EC2 instance does
not, so apt, pip and git fail inside it. xal collects those certificates once and hands the same
bundle to the local image builder and to the Ansible ``ca_certificates`` role.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from xal.errors import XalError

HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
PEM_MARKER = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class CaBundle:
    """Named PEM certificates (file name -> content), in a stable order."""

    certificates: tuple[tuple[str, bytes], ...]

    @classmethod
    def empty(cls) -> CaBundle:
        return cls(())

    @classmethod
    def from_paths(cls, paths: list[Path]) -> CaBundle:
        """Read every ``*.crt``/``*.pem`` under the given files or directories; reject non-PEM files."""
        found: dict[str, bytes] = {}
        for path in paths:
            if not path.exists():
                raise XalError(f"CA certificate path {path} does not exist")
            files = sorted(p for p in path.rglob("*") if p.suffix in {".crt", ".pem"}) if path.is_dir() else [path]
            for file in files:
                content = file.read_bytes()
                if PEM_MARKER not in content:
                    raise XalError(f"{file} is not a PEM certificate")
                found[f"{file.stem}.crt"] = content
        return cls(tuple(sorted(found.items())))

    @classmethod
    def from_host(cls, extra: list[Path] | None = None) -> CaBundle:
        """The host's locally added CAs plus any configured extra paths."""
        paths = [HOST_EXTRA_CA_DIR] if HOST_EXTRA_CA_DIR.is_dir() else []
        return cls.from_paths([*paths, *(extra or [])])

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for name, content in self.certificates:
            h.update(name.encode() + b"\0" + content)
        return h.hexdigest()

    def write_to(self, directory: Path) -> Path | None:
        """Write the certificates as ``*.crt`` files; None when there is nothing to carry."""
        if not self.certificates:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in self.certificates:
            (directory / name).write_bytes(content)
        return directory
