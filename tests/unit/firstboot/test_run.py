"""boot-test's requests, credentials, build identity, and its real-AWS lifecycle against moto
(in-process): two tagged instances of the AMI in the ledger, everything removed afterwards - also
when the spec is interrupted. The spec itself is replaced here (moto's instance addresses are
invented public ones); the integration tests run the real spec against booted containers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from xal import defaults
from xal.aws.ledger import Ledger
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import ExitCode, NotFoundError, UsageError
from xal.firstboot.machine import SpecInput
from xal.firstboot.report import BootReport, CheckResult, Outcome
from xal.firstboot.run import (
    BootTestRequest,
    Credentials,
    boot_test,
    boot_test_aws,
    build_identity,
    build_manifest,
)
from xal.manifest import BuildManifest, GitInfo

TAG = {"Key": "exa_ai_lab_id", "Value": "bt-1"}


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="set XAL_DEFAULT_PASSWORD") as caught:
        Credentials.from_env()
    assert caught.value.exit_code is ExitCode.USAGE
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "Os-Pass-1")
    assert Credentials.from_env() == Credentials("Os-Pass-1", defaults.JUPYTER_PASSWORD, "ubuntu")
    monkeypatch.setenv("XAL_JUPYTER_PASSWORD", "Lab-Pass-2")
    assert Credentials.from_env(os_user="admin") == Credentials("Os-Pass-1", "Lab-Pass-2", "admin")
    monkeypatch.delenv("XAL_DEFAULT_PASSWORD")
    assert Credentials.from_env(lambda _prompt: "Typed-3").os_password == "Typed-3"


def test_requests_check_themselves() -> None:
    with pytest.raises(UsageError, match="not an AMI id"):
        BootTestRequest(Credentials("x"), ami_id="i-123")
    with pytest.raises(UsageError, match="--boot-timeout must be positive"):
        BootTestRequest(Credentials("x"), ami_id="ami-1", boot_timeout=0)
    with pytest.raises(UsageError, match="either --ami-id or --image"):
        BootTestRequest(Credentials("x"))
    with pytest.raises(UsageError, match="either --ami-id or --image"):
        BootTestRequest(Credentials("x"), ami_id="ami-1", image=Path("ai-lab.vmdk"))
    with pytest.raises(UsageError, match=r"--image ai-lab.qcow2: expected a \.vmdk, \.vhd, \.raw file"):
        BootTestRequest(Credentials("x"), image=Path("ai-lab.qcow2"))
    with pytest.raises(UsageError, match="--accel 'hvf': expected one of kvm, tcg"):
        BootTestRequest(Credentials("x"), image=Path("ai-lab.VMDK"), accel="hvf")


def test_an_image_is_found_or_named(tmp_path: Path) -> None:
    request = BootTestRequest(Credentials("x"), image=tmp_path / "missing.vhd")
    with pytest.raises(NotFoundError, match=f"disk image {tmp_path}/missing.vhd not found"):
        boot_test(Settings(asset_id="bt-1"), request)


def _manifest(path: Path, amis: dict[str, str], identity: dict[str, Any] | None) -> Path:
    manifest = BuildManifest("bt-1", "ami", GitInfo(None, None), "1.6.6", amis=amis)
    manifest.extra["build_identity"] = identity
    return manifest.write(path)


def test_build_identity_is_read_from_the_manifest_that_names_the_ami(tmp_path: Path) -> None:
    settings = Settings(asset_id="bt-1")
    recorded = {"build_user": "ubuntu", "host_keys": ["ssh-ed25519 AAAA1 root@b"], "machine_id": "0" * 32}
    path = _manifest(tmp_path / "m.json", {"eu-central-1": "ami-1", "us-east-1": "ami-2"}, recorded)
    identity = build_identity(
        build_manifest(settings, BootTestRequest(Credentials("x"), ami_id="ami-2", manifest_path=path))
    )
    assert identity is not None
    assert identity.host_keys == ("ssh-ed25519 AAAA1 root@b",) and identity.machine_id == "0" * 32
    with pytest.raises(UsageError, match="does not name AMI ami-3"):
        build_manifest(settings, BootTestRequest(Credentials("x"), ami_id="ami-3", manifest_path=path))
    with pytest.raises(NotFoundError, match="not found"):
        build_manifest(settings, BootTestRequest(Credentials("x"), ami_id="ami-1", manifest_path=tmp_path / "no.json"))
    # without --manifest: the asset's own manifest, and no identity when it is about another AMI
    assert build_manifest(settings, BootTestRequest(Credentials("x"), ami_id="ami-1")) is None


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield boto3.client("ec2", region_name="eu-central-1")


def _state(ec2: Any) -> dict[str, Any]:
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    return {
        "instances": {i["InstanceId"]: (i["State"]["Name"], i.get("Tags", [])) for i in instances},
        "groups": [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"],
        "keys": ec2.describe_key_pairs()["KeyPairs"],
    }


def _ami(ec2: Any) -> str:
    return ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]


def test_two_tagged_instances_are_tested_and_removed(aws: Any) -> None:
    settings = Settings(asset_id="bt-1")
    request = BootTestRequest(Credentials("Os-Pass-1"), ami_id=_ami(aws), cidr="198.51.100.7")
    seen: dict[str, Any] = {}

    def spec(inp: SpecInput, observer: Any, target: str) -> BootReport:
        seen.update(_state(aws), inp=inp, target=target)
        return BootReport(target, [CheckResult("password-change", "t", Outcome.PASSED, "ok", 0.1)])

    report = boot_test_aws(settings, request, None, factory=AwsSessionFactory(settings), spec=spec)

    assert report.passed and report.target == seen["target"]
    inp = seen["inp"]
    assert inp.sibling is not None and inp.machine.name != inp.sibling.name
    assert set(seen["instances"]) == {inp.machine.name, inp.sibling.name}
    assert all(state == "running" and TAG in tags for state, tags in seen["instances"].values())
    assert (inp.machine.ssh_port, inp.machine.jupyter_port, inp.os_password) == (22, 49494, "Os-Pass-1")
    (group,) = seen["groups"]
    assert {r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]} == {"198.51.100.7/32"}
    assert TAG in group["Tags"] and TAG in seen["keys"][0]["Tags"] and seen["keys"][0]["KeyType"] == "ed25519"
    after = _state(aws)
    assert [state for state, _ in after["instances"].values()] == ["terminated", "terminated"]
    assert after["groups"] == [] and after["keys"] == []
    ledger = [(e.type, e.phase) for e in Ledger("bt-1").entries()]
    assert ledger.count(("instance", "created")) == 2 and ("key-pair", "intent") in ledger


def test_ctrl_c_during_the_spec_still_removes_everything(aws: Any) -> None:
    settings = Settings(asset_id="bt-1")
    request = BootTestRequest(Credentials("Os-Pass-1"), ami_id=_ami(aws), cidr="198.51.100.7")

    def interrupted(inp: SpecInput, observer: Any, target: str) -> BootReport:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        boot_test_aws(settings, request, None, factory=AwsSessionFactory(settings), spec=interrupted)
    after = _state(aws)
    assert [state for state, _ in after["instances"].values()] == ["terminated", "terminated"]
    assert after["groups"] == [] and after["keys"] == []


def test_an_unknown_ami_is_not_found_and_a_local_endpoint_never_launches(aws: Any) -> None:
    settings = Settings(asset_id="bt-1")
    request = BootTestRequest(Credentials("x"), ami_id="ami-0000000000", cidr="198.51.100.7")
    with pytest.raises(NotFoundError, match="AMI ami-0000000000 not found in eu-central-1"):
        boot_test_aws(settings, request, None, factory=AwsSessionFactory(settings), spec=lambda *_: None)  # type: ignore[arg-type,return-value]
    local = Settings(asset_id="bt-1", aws_endpoint_url="http://127.0.0.1:5000")
    with pytest.raises(UsageError, match="boots from its local image"):
        boot_test_aws(local, request, None)
    assert _state(aws)["keys"] == []


def test_the_report_names_failed_checks_without_secrets() -> None:
    from xal.firstboot.report import BootTestFailed
    from xal.secrets import register_secret

    register_secret("Os-Pass-Secret-9")
    report = BootReport(
        "xal-boot-1",
        [
            CheckResult("password-change", "t", Outcome.PASSED, "ok", 1.0),
            CheckResult("jupyter-service", "t", Outcome.FAILED, "refuses Os-Pass-Secret-9", 2.0),
            CheckResult("motd-hint", "t", Outcome.NOT_RUN, "needs a login", 0.0),
        ],
    )
    error = BootTestFailed(report)
    assert str(error) == "first-boot test of xal-boot-1 failed: jupyter-service: refuses ***"
    assert error.exit_code is ExitCode.FAILED
    assert not report.passed and [r.name for r in report.failed] == ["jupyter-service", "motd-hint"]
    assert json.loads(json.dumps(report.to_dict()))["checks"][2]["outcome"] == "not run"
