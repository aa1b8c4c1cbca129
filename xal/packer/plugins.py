"""The plugins current Packer needs, installed once into a folder xal owns and reused.

``packer init`` downloads through Go's proxy-aware HTTP client (hashicorp/packer
``packer-plugin-getter/release/getter.go:82``), so it runs before the offline guard is set, into
``PACKER_PLUGIN_PATH`` under xal's state folder; it never upgrades a plugin that already matches
its constraint (``command/init.go:126-134``), so later runs - rehearsals included - work offline.
The versions init resolved are read back from that folder for the build manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xal.errors import XalError
from xal.packer.binary import PackerBinary
from xal.paths import packer_dir, state_dir

REQUIRED_PLUGINS_FILE = Path("plugins") / "required_plugins.pkr.hcl"
# <plugin dir>/github.com/hashicorp/amazon/packer-plugin-amazon_v1.8.2_x5.0_linux_amd64
_BINARY = re.compile(r"^packer-plugin-(?P<name>[\w-]+)_v(?P<version>\d+\.\d+\.\d+[\w.-]*?)_x\d+\.\d+_")


@dataclass(frozen=True)
class Plugin:
    name: str  # amazon
    source: str  # github.com/hashicorp/amazon
    constraint: str  # ~> 1.8.0


def plugin_dir() -> Path:
    """PACKER_PLUGIN_PATH for every Packer call: xal's own, so nothing depends on ~/.packer.d."""
    return state_dir() / "packer-plugins"


def required_plugins(template_dir: Path | None = None) -> list[Plugin]:
    """The ``required_plugins`` block of the shipped template, in its order."""
    import hcl2

    with ((template_dir or packer_dir()) / REQUIRED_PLUGINS_FILE).open() as fh:
        doc = hcl2.load(fh, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))
    plugins: list[Plugin] = []
    for packer_block in doc.get("packer", []):
        for block in packer_block.get("required_plugins", []):
            for name, spec in block.items():
                if isinstance(spec, dict):  # hcl2 also lists markers such as __is_block__
                    plugins.append(Plugin(name, spec["source"], spec["version"]))
    return plugins


def installed_plugins(directory: Path) -> dict[str, str]:
    """Source -> newest installed version, from the binaries ``packer init`` put into ``directory``."""
    found: dict[str, tuple[int, ...]] = {}
    for binary in directory.glob("*/*/*/packer-plugin-*"):
        m = _BINARY.match(binary.name)
        if m is None:
            continue
        source = str(binary.parent.relative_to(directory))
        version = tuple(int(p) for p in m["version"].split(".")[:3])
        found[source] = max(found.get(source, version), version)
    return {source: ".".join(map(str, v)) for source, v in sorted(found.items())}


def install_plugins(packer: PackerBinary, build_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``packer init`` in ``build_dir`` (env without the offline guard); returns the installed versions.

    When init fails, the error names every required plugin that is still missing and where it
    was to be installed, instead of Packer's download trace.
    """
    directory = Path(env["PACKER_PLUGIN_PATH"])
    directory.mkdir(parents=True, exist_ok=True)
    try:
        packer.init(build_dir, env)
    except XalError as exc:
        installed = installed_plugins(directory)
        missing = [f"{p.source} {p.constraint}" for p in required_plugins() if p.source not in installed]
        if not missing:
            raise
        reason = str(exc).splitlines()[0]
        raise XalError(
            f"packer init could not install {', '.join(missing)} into {directory} ({reason}); it needs "
            "releases.hashicorp.com once, later runs (rehearsals too) reuse that folder offline"
        ) from None
    return installed_plugins(directory)
