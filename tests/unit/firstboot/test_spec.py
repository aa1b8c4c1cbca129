"""The spec's checks: a container boot keeps its six, a VM boot adds the network check."""

from __future__ import annotations

from xal.firstboot.spec import CHECK_NAMES, VM_CHECK_NAMES


def test_network_is_checked_on_vms_only() -> None:
    assert "network" not in CHECK_NAMES and len(CHECK_NAMES) == 6
    assert (*CHECK_NAMES, "network") == VM_CHECK_NAMES
