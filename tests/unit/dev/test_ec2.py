"""setup-ec2's lifecycle against moto (in-process): what it creates, that all of it goes again, and
what it tells the user (through the observer; the CLI puts it on stderr and stdout)."""

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


class Recorder:
    """The observer's calls, in order: ("status" | "login" | "jupyter", text)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def status(self, message: str) -> None:
        self.calls.append(("status", message))

    def login(self, argv: list[str]) -> None:
        self.calls.append(("login", " ".join(argv)))

    def jupyter(self, url: str) -> None:
        self.calls.append(("jupyter", url))

    def of(self, kind: str) -> list[str]:
        return [text for k, text in self.calls if k == kind]


def interrupt(seen: dict[str, Any], ec2: Any) -> Any:
    def wait() -> None:
        seen.update(state(ec2))
        raise KeyboardInterrupt

    return wait


def test_creates_tagged_resources_and_removes_them_after_ctrl_c(aws: Any, capsys: pytest.CaptureFixture) -> None:
    seen: dict[str, Any] = {}
    observer = Recorder()
    installs: list[tuple[Path, str, int]] = []
    settings = Settings(asset_id="dev-7")

    def install(key: Path, host: str, port: int) -> None:
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        installs.append((key, host, port))

    request = DevInstanceRequest(**{**REQUEST.__dict__, "install_dependencies": True})
    factory = AwsSessionFactory(settings)
    setup_ec2(settings, request, factory, install, interrupt(seen, aws), lambda *_: None, observer=observer)

    (instance_state,) = seen["instances"].values()
    assert instance_state == "running"
    (group,) = seen["groups"]
    assert TAG in group["Tags"]
    assert sorted(p["FromPort"] for p in group["IpPermissions"]) == [22, 49494]
    assert {r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]} == {"198.51.100.7/32"}
    (key_pair,) = seen["keys"]
    assert TAG in key_pair["Tags"] and key_pair["KeyType"] == "ed25519"

    key, host, port = installs[0]
    assert observer.of("login") == [f"ssh -i {key} ubuntu@{host}"] and port == 22
    assert observer.of("jupyter") == [f"http://{host}:49494/lab"]
    (instance_id,) = seen["instances"]
    assert observer.of("status")[-3:] == [
        f"terminated instance {instance_id}",
        f"deleted security group {group['GroupId']}",
        f"deleted key pair {key_pair['KeyName']}",
    ]
    printed = capsys.readouterr()  # the library itself prints nothing (stderr may hold log records)
    assert printed.out == "" and "ubuntu@" not in printed.err and "terminated instance" not in printed.err
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


def test_failed_install_keeps_the_instance_until_ctrl_c(aws: Any) -> None:
    seen: dict[str, Any] = {}
    observer = Recorder()
    settings = Settings(asset_id="dev-7")

    def broken(*args: Any) -> None:
        raise XalError("ai_lab.yml failed at task 'Install packages' on target: boom")

    request = DevInstanceRequest(**{**REQUEST.__dict__, "install_dependencies": True})
    with pytest.raises(XalError, match="Install packages"):
        factory = AwsSessionFactory(settings)
        setup_ec2(settings, request, factory, broken, interrupt(seen, aws), lambda *_: None, observer=observer)
    assert list(seen["instances"].values()) == ["running"]
    assert observer.of("jupyter") == []
    assert "Install packages' on target: boom\nthe instance stays up for debugging" in observer.of("status")[2]
    assert list(state(aws)["instances"].values()) == ["terminated"]


def test_cli_puts_the_status_on_stderr_and_the_login_and_url_on_stdout(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import xal.dev.ec2 as ec2_module
    from xal.cli.main import run_cli

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ec2_module, "wait_for_interrupt", ctrl_c)
    monkeypatch.setattr(ec2_module, "wait_for_ssh", lambda *_: None)
    monkeypatch.setattr(ec2_module, "_default_install", lambda *_: lambda *_: None)
    argv = ["setup-ec2", "--asset-id", "dev-7", "--cidr", "198.51.100.7", "--install-dependencies"]
    assert run_cli([*argv, "--source-ami-filter", REQUEST.source_ami_filter]) == 0
    out, err = capsys.readouterr()
    (instance,) = [i for r in aws.describe_instances()["Reservations"] for i in r["Instances"]]
    login, jupyter = out.splitlines()
    host = login.rpartition("ubuntu@")[2]  # the instance's public address (gone once terminated)
    assert login.startswith("ssh -i /") and login.endswith(f".pem ubuntu@{host}") and host
    assert jupyter == f"Jupyter: http://{host}:49494/lab"
    lines = err.splitlines()
    assert lines[0].startswith("source AMI ami-") and lines[0].endswith("SSH and JupyterLab open to 198.51.100.7/32")
    assert lines[1:] == [
        f"instance {instance['InstanceId']} running ({host})",
        "press Ctrl-C to terminate the instance and remove its key pair and security group",
        "Ctrl-C: cleaning up",
        f"terminated instance {instance['InstanceId']}",
        lines[5],
        f"deleted key pair {instance['KeyName']}",
    ]
    assert lines[5].startswith("deleted security group sg-")


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
