"""Both amazon-ebs source files are the rendering of one definition (xal/packer/amazon_ebs.py)."""

from __future__ import annotations

import pytest

from xal.packer.amazon_ebs import Generation, render, source_file
from xal.paths import packer_dir


@pytest.mark.parametrize("generation", list(Generation))
def test_shipped_source_is_its_rendering(generation: Generation) -> None:
    shipped = source_file(packer_dir(), generation).read_text()
    assert shipped == render(generation), f"run scripts/render-packer-sources ({generation} differs)"


def test_generations_differ_only_in_what_current_packer_adds() -> None:
    legacy, current = render(Generation.LEGACY), render(Generation.CURRENT)
    only_current = ("imds_support", "metadata_options", "temporary_key_pair_type", "ssh_interface")
    for name in only_current:
        assert name in current and name not in legacy
    # both open port 22 only to the CIDRs xal passes
    assert "temporary_security_group_source_cidrs" in legacy and "temporary_security_group_source_cidrs" in current
    assert "temporary_security_group_source_public_ip = var.ssh_source_public_ip" in current
    assert 'temporary_key_pair_type                   = "ed25519"' in current


def test_the_proxy_adapter_copies_with_classic_scp() -> None:
    """packer-plugin-ansible issue #100: the adapter's SFTP needs an sftp-server the ubuntu image lacks."""
    import hcl2

    with (packer_dir() / "ai-lab.pkr.hcl").open() as fh:
        doc = hcl2.load(fh, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))
    env_vars = next(block["ansible_env_vars"] for block in doc["locals"] if "ansible_env_vars" in block)
    assert "ANSIBLE_SCP_EXTRA_ARGS=-O" in env_vars
