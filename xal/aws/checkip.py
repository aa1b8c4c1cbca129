"""Who may reach a build or dev instance: one CIDR, by default this machine's public address.

EC2's temporary security groups open SSH to whatever CIDR they are given (Packer's default is
0.0.0.0/0). xal always gives one: the caller's own address as AWS sees it (checkip.amazonaws.com,
AWS's own service), 127.0.0.1/32 against a local emulator, or what the user passed - and never
the whole internet on a real build.
"""

from __future__ import annotations

import ipaddress
import urllib.request

from xal.config import Settings
from xal.errors import UsageError

CHECKIP_URL = "https://checkip.amazonaws.com"
LOCAL_CIDR = "127.0.0.1/32"


def caller_cidr(settings: Settings, cidr: str | None, option: str) -> str:
    """``cidr`` (checked), or this machine's public address /32; ``option`` names the flag in errors."""
    if cidr is None:
        if settings.endpoint_is_local:
            return LOCAL_CIDR
        try:
            with urllib.request.urlopen(CHECKIP_URL, timeout=10) as reply:
                cidr = reply.read().decode().strip() + "/32"
        except OSError as exc:
            message = f"cannot find this machine's public address ({CHECKIP_URL}: {exc}); pass {option}"
            raise UsageError(message) from None
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise UsageError(f"invalid {option} {cidr!r}; expected e.g. 203.0.113.7/32") from None
    if network.prefixlen == 0 and not settings.endpoint_is_local:
        raise UsageError(f"{option} {cidr} would open SSH to the whole internet; give your own address range")
    return str(network)
