"""setup-ec2's lifecycle against moto (in-process): what it creates, and that all of it goes again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.dev.ec2 import DevInstanceRequest, setup_ec2
from xal.errors import UsageError, XalError

TAG = {"Key": "exa_ai_lab_id", "Value": "dev-7"}
REQUEST = DevInstanceRequest(source_ami_filter="ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*", cidr="198.51.100.7")


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield boto3.client("ec2", region_name="eu-central-1")


def state(ec2: Any) -> dict[str, Any]:
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    return {
        "instances": {i["InstanceId"]: i["State"]["Name"] for i in instances},
        "groups": [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"],
        "keys": ec2.describe_key_pairs()["KeyPairs"],
    }


def interrupt(seen: dict[str, Any], ec2: Any) -> Any:
    def wait() -> None:
        seen.update(state(ec2))
        raise KeyboardInterrupt

    return wait


def test_creates_tagged_resources_and_removes_them_after_ctrl_c(aws: Any, capsys: pytest.CaptureFixture) -> None:
    seen: dict[str, Any] = {}
    installs: list[tuple[Path, str, int]] = []
    settings = Settings(asset_id="dev-7")

    def install(key: Path, host: str, port: int) -> None:
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        installs.append((key, host, port))

    request = DevInstanceRequest(**{**REQUEST.__dict__, "install_dependencies": True})
    setup_ec2(settings, request, AwsSessionFactory(settings), install, interrupt(seen, aws), ssh_ready=lambda *_: None)

    (instance_state,) = seen["instances"].values()
    assert instance_state == "running"
    (group,) = seen["groups"]
    assert TAG in group["Tags"]
    assert sorted(p["FromPort"] for p in group["IpPermissions"]) == [22, 49494]
    assert {r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]} == {"198.51.100.7/32"}
    (key_pair,) = seen["keys"]
    assert TAG in key_pair["Tags"] and key_pair["KeyType"] == "ed25519"

    printed = capsys.readouterr().out.splitlines()
    key, host, port = installs[0]
    assert printed[0] == f"ssh -i {key} ubuntu@{host}" and port == 22
    assert printed[1] == f"Jupyter: http://{host}:49494/lab"
    after = state(aws)
    assert list(after["instances"].values()) == ["terminated"]
    assert after["groups"] == [] and after["keys"] == []
    assert not key.exists() and not key.parent.exists()

    from xal.aws.ledger import Ledger

    recorded = [(e.type, e.phase, e.id) for e in Ledger("dev-7").entries()]
    assert [(t, p) for t, p, _ in recorded] == [
        (t, p) for t in ("key-pair", "security-group", "instance") for p in ("intent", "created")
    ]
    assert recorded[3][2] == group["GroupId"] and recorded[5][2] in seen["instances"]


def test_one_failing_cleanup_step_does_not_skip_the_others(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(asset_id="dev-7")
    factory = AwsSessionFactory(settings)
    ec2 = factory.client("ec2")

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("InvalidGroup.InUse")

    monkeypatch.setattr(ec2, "delete_security_group", refuse)
    with pytest.raises(XalError) as caught:
        setup_ec2(settings, REQUEST, factory, wait=interrupt({}, aws))
    group_id = state(aws)["groups"][0]["GroupId"]
    assert f"security group {group_id}: InvalidGroup.InUse" in str(caught.value)
    after = state(aws)
    assert list(after["instances"].values()) == ["terminated"] and after["keys"] == []


def test_a_failure_while_creating_removes_what_exists(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(asset_id="dev-7")
    factory = AwsSessionFactory(settings)

    def no_capacity(**kwargs: Any) -> None:
        raise XalError("InsufficientInstanceCapacity")

    monkeypatch.setattr(factory.client("ec2"), "run_instances", no_capacity)
    with pytest.raises(XalError, match="InsufficientInstanceCapacity"):
        setup_ec2(settings, REQUEST, factory, wait=lambda: None)
    after = state(aws)
    assert after == {"instances": {}, "groups": [], "keys": []}


def test_failed_install_keeps_the_instance_until_ctrl_c(aws: Any, capsys: pytest.CaptureFixture) -> None:
    seen: dict[str, Any] = {}
    settings = Settings(asset_id="dev-7")

    def broken(*args: Any) -> None:
        raise XalError("ai_lab.yml failed at task 'Install packages' on target: boom")

    request = DevInstanceRequest(**{**REQUEST.__dict__, "install_dependencies": True})
    with pytest.raises(XalError, match="Install packages"):
        setup_ec2(settings, request, AwsSessionFactory(settings), broken, interrupt(seen, aws), lambda *_: None)
    assert list(seen["instances"].values()) == ["running"]
    assert "Jupyter" not in capsys.readouterr().out
    assert list(state(aws)["instances"].values()) == ["terminated"]


def test_refuses_a_public_ssh_host_with_a_local_endpoint() -> None:
    class NoAws:
        def client(self, *_: Any) -> None:
            raise AssertionError("no AWS call may happen")

    settings = Settings(aws_endpoint_url="http://127.0.0.1:5000")
    for host in (None, "203.0.113.9", "example.com"):
        request = DevInstanceRequest(ssh_host=host)
        with pytest.raises(UsageError, match="--ssh-host must be a loopback address"):
            setup_ec2(settings, request, NoAws(), wait=lambda: None)  # type: ignore[arg-type]


def test_invalid_cidr_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="invalid --cidr"):
        setup_ec2(Settings(), DevInstanceRequest(cidr="10.0.0.300/8"), wait=lambda: None)
