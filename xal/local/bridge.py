"""The host's address on Docker's default bridge: where local stand-ins (the script-languages
repository, the wheel index) are served so that every build container reaches them and nothing
outside the host does."""

from __future__ import annotations

import ipaddress
import json
import subprocess

from xal.errors import XalError


def docker_bridge_gateway() -> str:
    """The host's address on Docker's default bridge, as containers see it."""
    result = subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise XalError(f"cannot inspect the docker bridge network: {result.stderr.strip()}")
    configs = json.loads(result.stdout)[0]["IPAM"]["Config"] or []
    for config in configs:
        if config.get("Gateway"):
            return config["Gateway"]
        if config.get("Subnet"):  # Docker 20.10 leaves Gateway out for the default bridge: the first host
            return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    raise XalError("the docker bridge network has no gateway address")
