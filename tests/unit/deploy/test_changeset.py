"""The change-set flow against a moto server: create, update, no change, cancel, rollback, order.

moto gaps bridged here, and only here: executing a change set does not refresh the stack's
outputs (``moto_outputs`` recomputes them the way create_stack does, dropping outputs of the
resource types moto skips), and stacks never roll back (``fail_next_execution`` and
``force_status`` put a stack into the states real CloudFormation produces, with failure events).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import OUT_BUCKET, OUT_EXPORT_ROLE, OUT_WAF_ACL_ARN, WAF_REGION, describe_stack
from xal.cli.changeset_display import ChangeSetDisplay
from xal.cli.main import run_cli
from xal.config import Settings
from xal.deploy.changeset import DeployOptions, DeployResult, Plan, StackSpec, deploy_stack
from xal.deploy.stacks import deploy_bucket, deploy_codebuild, deploy_waf
from xal.errors import ExitCode, NotFoundError, UsageError, XalError
from xal.naming import PERMANENT_STACKS

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")

ACCOUNT = "123456789012"
REGION = "eu-central-1"
ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/xal-vm-download/0b1c2d3e"
GITHUB_TOKEN = "ghp_not-a-real-token-1234"  # a fake, for the leak checks
REGISTRY_PASSWORD = "registry-password-5678"  # a fake, for the leak checks

ROLE = """
  Role:
    Type: AWS::IAM::Role
    Properties:
      Description: !Ref Purpose
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: vmie.amazonaws.com}
            Action: sts:AssumeRole
"""
TOPIC = """
  Topic:
    Type: AWS::SNS::Topic
"""
HEAD = """
Parameters:
  Purpose:
    Type: String
Resources:
"""
OUTPUTS = """
Outputs:
  RoleName:
    Value: !Ref Role
  Purpose:
    Value: !Sub "purpose-${Purpose}"
"""
V1 = HEAD + ROLE + OUTPUTS
V2 = HEAD + ROLE + TOPIC + OUTPUTS


def _backend(region: str = REGION) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[ACCOUNT][region]


def _stack(name: str, region: str = REGION) -> Any:
    return next(s for s in _backend(region).stacks.values() if s.name == name)


@pytest.fixture(autouse=True)
def moto_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs after ExecuteChangeSet, as real CloudFormation has them (moto leaves them empty)."""
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack_name in (stack.name, stack.stack_id):
                stack._parse_template()
                output_map = stack._create_output_map()
                usable = {}
                for key, value in (output_map._output_json_map or {}).items():
                    try:
                        output_map[key]
                    except Exception:  # noqa: S112 - a resource moto skipped: drop it like create_stack does
                        continue
                    usable[key] = value
                output_map._output_json_map = usable
                stack.output_map = output_map

    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", execute)


def _fail(stack: Any, status: str, logical_id: str, reason: str) -> None:
    """Put a moto stack into a failed state with the events CloudFormation would have written."""
    from moto.cloudformation.models import Event

    failed_status = "CREATE_FAILED" if status.startswith("ROLLBACK") else "UPDATE_FAILED"
    stack._add_stack_event(status.replace("COMPLETE", "IN_PROGRESS"), resource_status_reason="User Initiated")
    for rstatus, why in ((failed_status, reason), (failed_status, "Resource creation cancelled")):
        stack.events.append(Event(stack.stack_id, stack.name, logical_id, "", "AWS::IAM::Role", rstatus, why, None))
        logical_id = "Topic"
    stack._add_stack_event(status)
    stack.status = status


@pytest.fixture
def fail_next_execution(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """The next ExecuteChangeSet ends in ``status`` with a failed resource and ``reason``."""
    from moto.cloudformation.models import CloudFormationBackend

    def arm(status: str, reason: str) -> None:
        original = CloudFormationBackend.execute_change_set

        def execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
            original(self, change_set_name, stack_name)
            _fail(next(s for s in self.stacks.values() if stack_name in (s.name, s.stack_id)), status, "Role", reason)
            monkeypatch.setattr(CloudFormationBackend, "execute_change_set", original)

        monkeypatch.setattr(CloudFormationBackend, "execute_change_set", execute)

    return arm


@pytest.fixture
def factory(moto_endpoint: str) -> AwsSessionFactory:
    return AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, max_attempts=1))


def _spec(tmp_path: Path, body: str, purpose: str = "test", name: str = "xal-flow") -> StackSpec:
    template = tmp_path / f"{abs(hash(body))}.yaml"
    template.write_text(body)
    return StackSpec(name, template, REGION, {"Purpose": purpose})


YES = DeployOptions(yes=True, poll_seconds=0.01)
ASKING = DeployOptions(poll_seconds=0.01)


class Recorder:
    """A DeployObserver that keeps what it is told, for tests without a terminal."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def plan(self, plan: Plan) -> None:
        self.seen.append(("plan", plan.summary()))

    def event(self, event: dict[str, Any]) -> None:
        self.seen.append(("event", event.get("ResourceStatus")))

    def replacing_failed(self, stack: str, status: str) -> None:
        self.seen.append(("replacing", f"{stack} {status}"))

    def waiting(self, stack: str, status: str | None, seconds: int) -> None:
        self.seen.append(("waiting", (stack, status, seconds)))

    def settled(self) -> None:
        self.seen.append(("settled", None))

    def outcome(self, result: DeployResult) -> None:
        self.seen.append(("outcome", result.outcome))

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(kind for kind, _ in self.seen))


def _change_sets(factory: AwsSessionFactory, name: str) -> list[Any]:
    return factory.client("cloudformation").list_change_sets(StackName=name)["Summaries"]


# -- create / update / no change --------------------------------------------------------------


def test_create_then_update_then_no_change(
    factory: AwsSessionFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    display = ChangeSetDisplay()  # the CLI's observer: what `xal deploy-*` prints
    created = deploy_stack(factory, _spec(tmp_path, V1), YES, observer=display)
    assert created.outcome == "created"
    assert [(c.action, c.logical_id) for c in created.changes] == [("Add", "Role")]
    assert created.outputs["Purpose"] == "purpose-test"
    assert created.outputs["RoleName"].startswith("xal-flow-Role-")
    err = capsys.readouterr().err
    assert "create xal-flow (eu-central-1): 1 to add, 0 to modify, 0 to remove" in err
    assert "CREATE_COMPLETE" in err  # stack events are followed

    updated = deploy_stack(factory, _spec(tmp_path, V2), YES, observer=display)
    assert updated.outcome == "updated"
    assert [(c.action, c.logical_id, c.resource_type) for c in updated.changes] == [("Add", "Topic", "AWS::SNS::Topic")]
    assert describe_stack(factory, "xal-flow")["StackStatus"] == "UPDATE_COMPLETE"
    assert "update xal-flow (eu-central-1): 1 to add" in capsys.readouterr().err

    unchanged = deploy_stack(factory, _spec(tmp_path, V2), YES, observer=display)
    assert unchanged.outcome == "unchanged"
    assert unchanged.changes == ()
    assert unchanged.outputs == updated.outputs
    assert "is up to date: no changes" in capsys.readouterr().err
    assert _change_sets(factory, "xal-flow") == [] or all(
        cs["ExecutionStatus"] == "EXECUTE_COMPLETE" for cs in _change_sets(factory, "xal-flow")
    )


def test_removed_resources_are_shown(factory: AwsSessionFactory, tmp_path: Path) -> None:
    deploy_stack(factory, _spec(tmp_path, V2), YES)
    result = deploy_stack(factory, _spec(tmp_path, V1), YES)
    assert [(c.action, c.logical_id) for c in result.changes] == [("Remove", "Topic")]


def test_no_change_reported_by_a_failed_change_set_is_unchanged(
    factory: AwsSessionFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real CloudFormation creates the change set and marks it FAILED with "didn't contain changes"."""
    deploy_stack(factory, _spec(tmp_path, V1), YES)
    cfn = factory.client("cloudformation")
    deleted: list[str] = []
    monkeypatch.setattr(cfn, "create_change_set", lambda **_: {"Id": "cs"})
    monkeypatch.setattr(
        cfn,
        "describe_change_set",
        lambda **_: {
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes. Submit different information.",
        },
    )
    monkeypatch.setattr(cfn, "delete_change_set", lambda **kw: deleted.append(kw["ChangeSetName"]))
    result = deploy_stack(factory, _spec(tmp_path, V1), YES)
    assert result.outcome == "unchanged"
    assert result.outputs["Purpose"] == "purpose-test"
    assert len(deleted) == 1  # the empty change set is not left behind


def test_a_rejected_change_set_is_an_error(
    factory: AwsSessionFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    cfn = factory.client("cloudformation")
    error = {"Error": {"Code": "ValidationError", "Message": "Parameters: [Purpose] must have values"}}

    def reject(**_: Any) -> None:
        raise ClientError(error, "CreateChangeSet")  # type: ignore[arg-type]

    monkeypatch.setattr(cfn, "create_change_set", reject)
    with pytest.raises(XalError, match=r"rejected the change set for xal-flow: Parameters: \[Purpose\] must have"):
        deploy_stack(factory, _spec(tmp_path, V1), YES)


# -- confirmation -----------------------------------------------------------------------------


def test_declined_create_leaves_nothing_behind(factory: AwsSessionFactory, tmp_path: Path) -> None:
    questions: list[str] = []

    def ask(question: str) -> bool:
        questions.append(question)
        return False

    recorder = Recorder()
    result = deploy_stack(factory, _spec(tmp_path, V1), ASKING, observer=recorder, ask=ask)
    assert result.outcome == "cancelled"
    assert questions == ["Create stack xal-flow in eu-central-1?"]
    assert recorder.seen == [
        ("plan", "create xal-flow (eu-central-1): 1 to add, 0 to modify, 0 to remove"),
        ("outcome", "cancelled"),
    ]  # the plan before the question, and no waiting, no events: nothing was executed
    assert describe_stack(factory, "xal-flow") is None  # no REVIEW_IN_PROGRESS stack left


def test_declined_update_keeps_the_stack_and_drops_the_change_set(factory: AwsSessionFactory, tmp_path: Path) -> None:
    deploy_stack(factory, _spec(tmp_path, V1), YES)
    result = deploy_stack(factory, _spec(tmp_path, V2), ASKING, ask=lambda _: False)
    assert result.outcome == "cancelled"
    assert [c.logical_id for c in result.changes] == ["Topic"]
    assert describe_stack(factory, "xal-flow")["StackStatus"] == "CREATE_COMPLETE"
    assert [cs for cs in _change_sets(factory, "xal-flow") if cs["ExecutionStatus"] == "AVAILABLE"] == []


def test_without_yes_the_library_has_nobody_to_ask_and_refuses(factory: AwsSessionFactory, tmp_path: Path) -> None:
    recorder = Recorder()
    with pytest.raises(UsageError, match=r"no terminal to confirm the change set on.*re-run with --yes") as info:
        deploy_stack(factory, _spec(tmp_path, V1), ASKING, observer=recorder)
    assert info.value.exit_code == ExitCode.USAGE
    assert recorder.kinds() == ["plan"]  # the diff was reported first, then nothing
    assert describe_stack(factory, "xal-flow") is None


def test_applied_change_is_reported_through_the_observer(factory: AwsSessionFactory, tmp_path: Path) -> None:
    recorder = Recorder()
    deploy_stack(factory, _spec(tmp_path, V1), ASKING, observer=recorder, ask=lambda _: True)
    assert recorder.kinds() == ["plan", "waiting", "event", "settled", "outcome"]
    assert ("event", "CREATE_COMPLETE") in recorder.seen and recorder.seen[-1] == ("outcome", "created")


def test_interrupt_at_the_prompt_discards_the_change_set(factory: AwsSessionFactory, tmp_path: Path) -> None:
    deploy_stack(factory, _spec(tmp_path, V1), YES)

    def ask(question: str) -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deploy_stack(factory, _spec(tmp_path, V2), ASKING, ask=ask)
    assert [cs for cs in _change_sets(factory, "xal-flow") if cs["ExecutionStatus"] == "AVAILABLE"] == []


# -- failures and rollback --------------------------------------------------------------------


def test_failed_creation_is_explained_with_events_and_the_way_out(
    factory: AwsSessionFactory, tmp_path: Path, fail_next_execution: Callable[[str, str], None]
) -> None:
    fail_next_execution("ROLLBACK_COMPLETE", "Resource handler returned message: Access Denied for iam:CreateRole")
    with pytest.raises(XalError) as info:
        deploy_stack(factory, _spec(tmp_path, V1), YES)
    message = str(info.value)
    assert "stack xal-flow in eu-central-1 is ROLLBACK_COMPLETE" in message
    assert "Role (AWS::IAM::Role): CREATE_FAILED: Resource handler returned message: Access Denied" in message
    assert "Resource creation cancelled" not in message  # echoes of the root cause are left out
    assert "--replace-failed" in message
    assert "describe-stack-events --stack-name xal-flow --region eu-central-1" in message


def test_rollback_complete_stack_is_refused_then_replaced_on_request(
    factory: AwsSessionFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.client("cloudformation").create_stack(
        StackName="xal-flow", TemplateBody=V1, Parameters=[{"ParameterKey": "Purpose", "ParameterValue": "x"}]
    )
    _fail(_stack("xal-flow"), "ROLLBACK_COMPLETE", "Role", "Role name already exists")

    with pytest.raises(XalError, match=r"(?s)ROLLBACK_COMPLETE.*Role name already exists.*--replace-failed"):
        deploy_stack(factory, _spec(tmp_path, V1), YES)
    assert describe_stack(factory, "xal-flow")["StackStatus"] == "ROLLBACK_COMPLETE"  # untouched without the flag

    replace = DeployOptions(yes=True, replace_failed=True, poll_seconds=0.01)
    result = deploy_stack(factory, _spec(tmp_path, V1), replace, observer=ChangeSetDisplay())
    assert result.outcome == "created"
    assert describe_stack(factory, "xal-flow")["StackStatus"] == "CREATE_COMPLETE"
    assert "deleting it (--replace-failed)" in capsys.readouterr().err


def test_failed_update_says_the_stack_still_works(
    factory: AwsSessionFactory, tmp_path: Path, fail_next_execution: Callable[[str, str], None]
) -> None:
    deploy_stack(factory, _spec(tmp_path, V1), YES)
    fail_next_execution("UPDATE_ROLLBACK_COMPLETE", "Topic limit exceeded")
    with pytest.raises(XalError, match=r"(?s)UPDATE_ROLLBACK_COMPLETE.*Topic limit exceeded.*still works"):
        deploy_stack(factory, _spec(tmp_path, V2), YES)


def test_update_rollback_failed_points_to_continue_update_rollback(factory: AwsSessionFactory, tmp_path: Path) -> None:
    deploy_stack(factory, _spec(tmp_path, V1), YES)
    _fail(_stack("xal-flow"), "UPDATE_ROLLBACK_FAILED", "Role", "cannot delete role")
    with pytest.raises(XalError, match="continue-update-rollback --stack-name xal-flow"):
        deploy_stack(factory, _spec(tmp_path, V2), DeployOptions(yes=True, replace_failed=True, poll_seconds=0.01))


def test_busy_stack_is_not_touched(factory: AwsSessionFactory, tmp_path: Path) -> None:
    deploy_stack(factory, _spec(tmp_path, V1), YES)
    _stack("xal-flow").status = "UPDATE_IN_PROGRESS"
    with pytest.raises(XalError, match=r"busy \(UPDATE_IN_PROGRESS\)"):
        deploy_stack(factory, _spec(tmp_path, V2), YES)


# -- the four stacks: order and outputs -------------------------------------------------------


def _stand_in_waf(factory: AwsSessionFactory) -> None:
    """moto drops the real WAF stack's outputs; a literal output stands in for the web ACL."""
    body = f"Resources:\n  T:\n    Type: AWS::SNS::Topic\nOutputs:\n  {OUT_WAF_ACL_ARN}:\n    Value: {ACL_ARN}\n"
    factory.client("cloudformation", WAF_REGION).create_stack(StackName=PERMANENT_STACKS["waf"], TemplateBody=body)


def _secrets(factory: AwsSessionFactory) -> None:
    sm = factory.client("secretsmanager")
    token = {"ServerType": "GITHUB", "AuthType": "PERSONAL_ACCESS_TOKEN", "Token": GITHUB_TOKEN}
    sm.create_secret(
        Name="xal/github-token",
        SecretString=json.dumps(token),
        Tags=[
            {"Key": "codebuild:source", "Value": ""},
            {"Key": "codebuild:source:type", "Value": "personal_access_token"},
            {"Key": "codebuild:source:provider", "Value": "github"},
        ],
    )
    sm.create_secret(Name="Dockerhub", SecretString=json.dumps({"User": "xal", "AccessToken": REGISTRY_PASSWORD}))


def test_waf_goes_to_us_east_1_whatever_the_region(factory: AwsSessionFactory) -> None:
    settings = Settings(aws_endpoint_url=factory.settings.aws_endpoint_url, region="eu-west-1")
    result = deploy_waf(settings, ["192.0.2.1", "198.51.100.0/24"], YES)
    assert (result.region, result.outcome) == (WAF_REGION, "created")
    stack = describe_stack(factory, PERMANENT_STACKS["waf"], WAF_REGION)
    (param,) = stack["Parameters"]
    assert param["ParameterKey"] == "AllowedIpCidrs"
    # moto echoes a CommaDelimitedList as Python's list repr; AWS echoes the string sent
    assert re.findall(r"[0-9./]+", param["ParameterValue"]) == ["192.0.2.1/32", "198.51.100.0/24"]
    assert describe_stack(factory, PERMANENT_STACKS["waf"], "eu-west-1") is None


def test_bucket_before_waf_is_not_found_with_the_order(factory: AwsSessionFactory) -> None:
    with pytest.raises(NotFoundError, match=r"not found in us-east-1.*run `xal deploy-waf --allowed-ip") as info:
        deploy_bucket(factory.settings, YES)
    assert info.value.exit_code == ExitCode.NOT_FOUND


def test_bucket_on_a_waf_stack_without_the_acl_output_is_not_found(factory: AwsSessionFactory) -> None:
    """The real WAF template on moto: the stack exists, its ACL output does not (moto skipped WAFv2)."""
    deploy_waf(factory.settings, ["192.0.2.1"], YES)
    with pytest.raises(NotFoundError, match=f"has no output {OUT_WAF_ACL_ARN}"):
        deploy_bucket(factory.settings, YES)


def test_bucket_reads_the_acl_from_us_east_1_and_codebuild_reads_the_bucket(factory: AwsSessionFactory) -> None:
    _stand_in_waf(factory)
    bucket = deploy_bucket(factory.settings, YES)
    assert (bucket.region, bucket.outcome) == (REGION, "created")
    stack = describe_stack(factory, PERMANENT_STACKS["bucket"])
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["WebAclArn"] == ACL_ARN
    # moto created the bucket and the role; CloudFront outputs are missing because moto skipped it
    assert bucket.outputs[OUT_BUCKET] in [b["Name"] for b in factory.client("s3").list_buckets()["Buckets"]]
    assert bucket.outputs[OUT_EXPORT_ROLE].startswith("XAL-VM-BUCKET-VMExportRole")

    with pytest.raises(NotFoundError, match=r"(Docker registry|GitHub token) secret"):
        deploy_codebuild(factory.settings, "ci", YES)
    _secrets(factory)
    for kind in ("ci", "release"):
        result = deploy_codebuild(factory.settings, kind, YES)
        assert result.outcome == "created"
        params = {
            p["ParameterKey"]: p["ParameterValue"]
            for p in describe_stack(factory, PERMANENT_STACKS[kind])["Parameters"]
        }
        assert params["VMBucketName"] == bucket.outputs[OUT_BUCKET]
        assert params["VMExportRoleName"] == bucket.outputs[OUT_EXPORT_ROLE]
        assert params["GitHubTokenSecretArn"].startswith("arn:aws:secretsmanager:")
        assert GITHUB_TOKEN not in json.dumps(params)
        assert REGISTRY_PASSWORD not in json.dumps(params)
    assert deploy_bucket(factory.settings, YES).outcome == "unchanged"


def test_codebuild_before_bucket_is_not_found(factory: AwsSessionFactory) -> None:
    with pytest.raises(NotFoundError, match=r"stack XAL-VM-BUCKET not found in eu-central-1.*xal deploy-bucket"):
        deploy_codebuild(factory.settings, "release", YES)


# -- CLI --------------------------------------------------------------------------------------


def test_cli_bad_allowed_ip_is_a_usage_error_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    for bad, text in (
        ("10.0.0.5/24", "did you mean 10.0.0.0/24"),
        ("2001:db8::/32", "only IPv4"),
        ("0.0.0.0/0", "every IP"),
        ("nonsense", "not an IPv4 address or CIDR"),
    ):
        assert run_cli(["deploy-waf", "--allowed-ip", bad, "--yes"]) == ExitCode.USAGE
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err


def test_cli_deploy_json_and_no_change(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["deploy-waf", "--allowed-ip", "192.0.2.1", "--aws-endpoint-url", moto_endpoint, "--yes", "--json"]
    assert run_cli(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["stack"], data["region"], data["outcome"]) == (PERMANENT_STACKS["waf"], WAF_REGION, "created")
    assert {c["logical_id"] for c in data["changes"]} == {"AllowedIpSet", "VMDownloadACL"}
    assert run_cli(argv) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "unchanged"


def test_cli_without_yes_in_a_pipeline_refuses(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["deploy-waf", "--allowed-ip", "192.0.2.1", "--aws-endpoint-url", moto_endpoint]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "error: no terminal to confirm the change set on" in err and "--yes" in err
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    assert describe_stack(factory, PERMANENT_STACKS["waf"], WAF_REGION) is None


def test_cli_rollback_and_order_errors_are_one_message(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["deploy-bucket", "--aws-endpoint-url", moto_endpoint, "--yes"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert err.startswith("error: the VM bucket stack needs output VMDownloadACLArn")
    assert "Traceback" not in err

    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    factory.client("cloudformation", WAF_REGION).create_stack(
        StackName=PERMANENT_STACKS["waf"], TemplateBody=TOPIC_ONLY
    )
    _fail(_stack(PERMANENT_STACKS["waf"], WAF_REGION), "ROLLBACK_COMPLETE", "VMDownloadACL", "WAF quota exceeded")
    argv = ["deploy-waf", "--allowed-ip", "192.0.2.1", "--aws-endpoint-url", moto_endpoint, "--yes"]
    assert run_cli(argv) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert "WAF quota exceeded" in err and "--replace-failed" in err and "Traceback" not in err
    assert run_cli([*argv, "--replace-failed"]) == 0


def test_cli_codebuild_output_never_shows_secret_values(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    _stand_in_waf(factory)
    _secrets(factory)
    assert run_cli(["deploy-bucket", "--aws-endpoint-url", moto_endpoint, "--yes"]) == 0
    for command in ("deploy-ci-codebuild", "deploy-release-codebuild"):
        assert run_cli([command, "--aws-endpoint-url", moto_endpoint, "--yes", "--log-level", "debug"]) == 0
    captured = capsys.readouterr()
    for secret in (GITHUB_TOKEN, REGISTRY_PASSWORD):
        assert secret not in captured.out + captured.err


TOPIC_ONLY = "Resources:" + TOPIC
