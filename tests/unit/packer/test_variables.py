"""Variables are checked against what the real template declares, before Packer runs."""

from pathlib import Path

import pytest

from xal import defaults, naming
from xal.config import Settings
from xal.errors import UsageError
from xal.image.ami import AmiBuildRequest, Communicator, check_target_safety, packer_variables
from xal.image.packer_build import default_variables, prepare_build_dir
from xal.packer.amazon_ebs import Generation
from xal.packer.binary import PackerBinary
from xal.packer.variables import check_variables, declared_variables


class FakeVersion(PackerBinary):
    def __init__(self, version: tuple[int, int, int]) -> None:
        super().__init__()
        self._version = version

    def version(self) -> tuple[int, int, int]:
        return self._version


@pytest.fixture
def declared(tmp_path: Path) -> dict:
    prepare_build_dir(FakeVersion((1, 6, 6)), tmp_path)
    return declared_variables(tmp_path)


def _required() -> dict:
    return {
        **default_variables(),
        "asset_id": "1.0",
        "playbook_file": "p.yml",
        "ansible_config": "a.cfg",
        "ansible_vars_file": "v.json",
    }


def test_template_declares_what_xal_renders(declared: dict) -> None:
    request = AmiBuildRequest(ami_regions=("us-east-1",))
    values = {**_required(), **packer_variables(Settings(asset_id="1.0"), request, Generation.CURRENT)}
    check_variables(declared, values)
    assert values["tags"] == {**naming.asset_tags("1.0"), "Name": "Exasol-AI-Lab-1.0"}
    assert {"exa_ai_lab_id", "exasol:owner", "exasol:project"} <= set(values["tags"])
    assert values["ami_regions"] == ["us-east-1"]
    assert values["ssh_host"] is None  # production: Packer's own communicator defaults


def test_defaults_come_from_xal_defaults_only(declared: dict) -> None:
    """The template declares no default of its own for what xal/defaults.py decides."""
    for name, value in default_variables().items():
        assert declared[name].required, f"{name} has a default in the template too"
        assert value is not None
    ami = packer_variables(Settings(asset_id="1.0"), AmiBuildRequest(), Generation.CURRENT)
    assert (ami["instance_type"], ami["root_volume_size_gb"]) == (defaults.INSTANCE_TYPE, defaults.ROOT_VOLUME_SIZE_GB)
    assert ami["source_ami_owners"] == list(defaults.SOURCE_AMI_OWNERS)


def test_unknown_missing_and_mistyped_variables_are_all_reported(declared: dict) -> None:
    values = {**_required(), "regoin": "x", "ssh_port": "22", "ami_regions": "us-east-1", "tags": {"a": 1}}
    del values["playbook_file"]
    with pytest.raises(UsageError) as info:
        check_variables(declared, values)
    message = str(info.value)
    assert "unknown variable(s) regoin" in message
    assert "missing required variable(s) playbook_file" in message
    assert "ssh_port must be number, got str '22'" in message
    assert "ami_regions must be list(string)" in message
    assert "tags must be map(string)" in message


def test_version_picks_the_source_file_and_plugin_requirements(tmp_path: Path) -> None:
    legacy, current = tmp_path / "legacy", tmp_path / "current"
    prepare_build_dir(FakeVersion((1, 6, 6)), legacy)
    prepare_build_dir(FakeVersion((1, 11, 2)), current)
    assert not (legacy / "required_plugins.pkr.hcl").exists()
    assert "metadata_options" not in (legacy / "amazon-ebs.pkr.hcl").read_text()
    assert "github.com/hashicorp/amazon" in (current / "required_plugins.pkr.hcl").read_text()
    assert 'http_tokens                 = "required"' in (current / "amazon-ebs.pkr.hcl").read_text()
    assert declared_variables(legacy).keys() == declared_variables(current).keys()


@pytest.mark.parametrize("host", [None, "10.0.0.5", "54.214.135.108", "example.com"])
def test_local_endpoint_requires_loopback_ssh_host(host: str | None) -> None:
    settings = Settings(aws_endpoint_url="http://127.0.0.1:5000")
    with pytest.raises(UsageError, match="ssh_host must be a loopback address"):
        check_target_safety(settings, Communicator(ssh_host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_ssh_host_is_allowed_with_local_endpoint(host: str) -> None:
    check_target_safety(Settings(aws_endpoint_url="http://localhost:5000"), Communicator(ssh_host=host))


def test_real_aws_keeps_packer_defaults() -> None:
    check_target_safety(Settings(), Communicator())
