"""Who may reach port 22 of a build instance: never the whole internet on a real build."""

from __future__ import annotations

import io
from typing import Any

import pytest

from xal.config import Settings
from xal.errors import UsageError
from xal.image.ami import AmiBuildRequest, Communicator, packer_variables, ssh_access
from xal.packer.amazon_ebs import Generation, SshInterface

REAL = Settings(asset_id="1.0")
LOCAL = Settings(asset_id="1.0", aws_endpoint_url="http://127.0.0.1:5000")


def test_current_packer_finds_the_callers_address_itself() -> None:
    assert ssh_access(REAL, Communicator(), Generation.CURRENT) == {
        "ssh_source_cidrs": [],
        "ssh_source_public_ip": True,
    }


def test_packer_1_6_6_gets_the_callers_address_from_xal(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def checkip(url: str, timeout: float) -> Any:
        asked.append(url)
        return io.BytesIO(b"203.0.113.7\n")

    monkeypatch.setattr("xal.aws.checkip.urllib.request.urlopen", checkip)
    access = ssh_access(REAL, Communicator(), Generation.LEGACY)
    assert access == {"ssh_source_cidrs": ["203.0.113.7/32"], "ssh_source_public_ip": False}
    assert asked == ["https://checkip.amazonaws.com"]


@pytest.mark.parametrize("generation", list(Generation))
def test_an_explicit_cidr_and_a_local_endpoint_are_passed_as_they_are(generation: Generation) -> None:
    explicit = ssh_access(REAL, Communicator(ssh_cidr="198.51.100.0/24"), generation)
    assert explicit == {"ssh_source_cidrs": ["198.51.100.0/24"], "ssh_source_public_ip": False}
    assert ssh_access(LOCAL, Communicator(), generation)["ssh_source_cidrs"] == ["127.0.0.1/32"]


def test_the_whole_internet_and_ssm_on_1_6_6_are_refused() -> None:
    with pytest.raises(UsageError, match="whole internet"):
        ssh_access(REAL, Communicator(ssh_cidr="0.0.0.0/0"), Generation.CURRENT)
    with pytest.raises(UsageError, match=r"needs Packer >= 1\.7"):
        ssh_access(REAL, Communicator(ssh_interface=SshInterface.SESSION_MANAGER), Generation.LEGACY)


def test_session_manager_reaches_the_template() -> None:
    request = AmiBuildRequest(communicator=Communicator(ssh_interface=SshInterface.SESSION_MANAGER))
    values = packer_variables(REAL, request, Generation.CURRENT)
    assert values["ssh_interface"] == "session_manager"
    assert values["ssh_source_public_ip"] is True  # the group still opens nothing beyond this machine
