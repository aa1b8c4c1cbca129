import pytest

from xal import naming
from xal.aws.tags import tag_specifications
from xal.errors import ExitCode, UsageError


@pytest.mark.parametrize("asset_id", ["6.0.0", "ci-test-1.2.3-20260101", "A_b.c-9", "x" * 64, "1"])
def test_valid_asset_ids_pass_unchanged(asset_id: str) -> None:
    assert naming.validate_asset_id(asset_id) == asset_id


@pytest.mark.parametrize(
    ("asset_id", "fragment"),
    [
        ("", "must not be empty"),
        ("a b", "' '"),
        ("rel/1", "'/'"),
        ("v*", "'*'"),
        ("1:2", "':'"),
        ("-lead", "start with a letter or digit"),
        (".hidden", "start with a letter or digit"),
        ("x" * 65, "at most 64"),
        ("über", "'ü'"),
    ],
)
def test_invalid_asset_ids_are_rejected_with_a_reason(asset_id: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        naming.validate_asset_id(asset_id)
    assert fragment in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_names_derived_from_asset_id() -> None:
    assert naming.ami_name("6.0.0") == "Exasol-AI-Lab-6.0.0"
    assert naming.s3_prefix("6.0.0") == "ai_lab/6.0.0/"
    assert naming.vm_image_key("6.0.0", naming.VmFormat.VMDK) == "ai_lab/6.0.0/exasol-ai-lab-6.0.0.vmdk"
    assert naming.export_task_key("6.0.0", "export-ami-1", naming.VmFormat.VHD) == "ai_lab/6.0.0/export-ami-1.vhd"
    assert naming.stack_safe("6.0_rc.1") == "6-0-rc-1"


OWNED = {"exasol:project": "DataScienceSandbox", "exasol:owner": "alice"}


def test_tags_carry_the_asset_id_in_every_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_USER_NAME", "alice")
    assert naming.asset_tags("7.1") == {"exa_ai_lab_id": "7.1", **OWNED}
    assert naming.asset_tags("7.1", Name="x") == {"exa_ai_lab_id": "7.1", **OWNED, "Name": "x"}
    listed = [{"Key": "exa_ai_lab_id", "Value": "7.1"}, *({"Key": k, "Value": v} for k, v in OWNED.items())]
    assert tag_specifications(naming.asset_tags("7.1"), "image", "snapshot") == [
        {"ResourceType": "image", "Tags": listed},
        {"ResourceType": "snapshot", "Tags": listed},
    ]


def test_owner_comes_from_aws_user_name_else_the_caller_identity(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    from xal.aws.identity import name_of, resolve_owner
    from xal.aws.session import AwsSessionFactory
    from xal.config import Settings

    monkeypatch.setattr(naming, "_owner", [])
    monkeypatch.delenv("AWS_USER_NAME", raising=False)
    assert naming.asset_tags("7.1")["exasol:owner"] == "unknown"
    assert resolve_owner(AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))) == "moto"  # moto's caller
    assert naming.asset_tags("7.1")["exasol:owner"] == "moto"
    monkeypatch.setenv("AWS_USER_NAME", "release_user")
    assert naming.asset_tags("7.1")["exasol:owner"] == "release_user"
    assert name_of("arn:aws:sts::1:assumed-role/ailab-cd/session-1") == "ailab-cd/session-1"


def test_names_refuse_invalid_ids_too() -> None:
    with pytest.raises(UsageError):
        naming.ami_name("bad id")
    with pytest.raises(UsageError):
        naming.vm_image_key("../x", naming.VmFormat.RAW)


def test_permanent_stacks_are_recognised() -> None:
    assert naming.is_permanent_stack("XAL-VM-BUCKET")
    assert not naming.is_permanent_stack("xal-ec2-1-0")
