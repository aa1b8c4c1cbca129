"""Static checks of the CloudFormation templates, buildspecs and release workflow.

moto skips CloudFront, WAFv2, CodeBuild and bucket policies, so the security-relevant
properties are asserted on the template text itself; cfn-lint checks them against the
CloudFormation schemas, with and without the parameter values the commands render.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import (
    OUT_BUCKET,
    OUT_DISTRIBUTION_DOMAIN,
    OUT_DISTRIBUTION_ID,
    OUT_EXPORT_ROLE,
    OUT_PROJECT_NAME,
    OUT_WAF_ACL_ARN,
    WAF_REGION,
)
from xal.config import Settings
from xal.deploy.changeset import StackSpec
from xal.deploy.stacks import TEMPLATES, bucket_spec, codebuild_spec, template_path, waf_spec
from xal.naming import PERMANENT_STACKS, S3_PREFIX_ROOT

REPO = Path(__file__).resolve().parents[3]
CFN_DIR = REPO / "cloudformation"
ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/xal-vm-download/0b1c2d3e"
SECRET_VALUES = ("ghp_not-a-real-token-1234", "registry-password-5678")
# the vmimport service role as the VM Import/Export User Guide documents it ("Required service role")
VMIMPORT_ROLE_DOC = "https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role"
VMIMPORT_S3_ACTIONS = {"s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:GetBucketAcl"}
VMIMPORT_EC2_ACTIONS = {"ec2:ModifySnapshotAttribute", "ec2:CopySnapshot", "ec2:RegisterImage", "ec2:Describe*"}


def load(name: str) -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(CFN_DIR / name))


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def only(template: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = resources(template, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def cfn_lint() -> list[str]:
    exe = Path(sys.executable).with_name("cfn-lint")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("cfn-lint")
    if found is None:
        pytest.skip("cfn-lint is not installed (pip install -e '.[test]')")
    return [found]


def run_lint(template: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cfn_lint(), *extra, "--", str(template)], capture_output=True, text=True, check=False)


# -- cfn-lint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEMPLATES.values()))
def test_cfn_lint_clean(name: str) -> None:
    result = run_lint(CFN_DIR / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_catches_a_typo(tmp_path: Path) -> None:
    """The lint test is not vacuous: a misspelt property fails it."""
    broken = tmp_path / "broken.yaml"
    broken.write_text((CFN_DIR / "vm-bucket.yaml").read_text().replace("SigningBehavior:", "SigningBehaviour:"))
    result = run_lint(broken)
    assert result.returncode != 0
    assert "SigningBehaviour" in result.stdout


def test_every_template_is_known_and_plain() -> None:
    """Plain CloudFormation with Parameters: no Jinja or other string templating."""
    assert sorted(p.name for p in CFN_DIR.glob("*.yaml")) == sorted(TEMPLATES.values())
    for name in TEMPLATES.values():
        text = (CFN_DIR / name).read_text()
        assert not re.search(r"\{\{(?!resolve:)|\{%", text), name
        assert "Parameters" in load(name)


def _lint_parameter_file(spec: StackSpec, tmp_path: Path) -> Path:
    """cfn-lint's parameter file; CommaDelimitedList values are given as lists, as cfn-lint wants."""
    declared = load(spec.template.name)["Parameters"]
    rows = []
    for key, value in spec.parameters.items():
        typed: Any = value.split(",") if declared[key]["Type"] == "CommaDelimitedList" else value
        rows.append({"ParameterKey": key, "ParameterValue": typed})
    path = tmp_path / f"{spec.name}.params.json"
    path.write_text(json.dumps(rows))
    return path


def _check_constraints(spec: StackSpec) -> None:
    """The values satisfy the template's own constraints (cfn-lint does not check AllowedPattern)."""
    declared = load(spec.template.name)["Parameters"]
    assert set(spec.parameters) <= set(declared), set(spec.parameters) - set(declared)
    required = {k for k, v in declared.items() if "Default" not in v}
    assert required <= set(spec.parameters), required - set(spec.parameters)
    for key, value in spec.parameters.items():
        rules = declared[key]
        items = value.split(",") if rules["Type"] == "CommaDelimitedList" else [value]
        for item in items:
            if "AllowedPattern" in rules:
                assert re.fullmatch(rules["AllowedPattern"], item), (key, item)
            if "AllowedValues" in rules:
                assert item in rules["AllowedValues"], (key, item)
            assert len(item) >= int(rules.get("MinLength", 0)), (key, item)


@pytest.fixture
def rendered_specs(moto_endpoint: str) -> Iterator[list[StackSpec]]:
    """The parameter sets the four commands render, with the earlier stacks and secrets as stand-ins."""
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    stand_in = "Resources:\n  T:\n    Type: AWS::SNS::Topic\nOutputs:\n"
    factory.client("cloudformation", WAF_REGION).create_stack(
        StackName=PERMANENT_STACKS["waf"], TemplateBody=stand_in + f"  {OUT_WAF_ACL_ARN}:\n    Value: {ACL_ARN}\n"
    )
    factory.client("cloudformation").create_stack(
        StackName=PERMANENT_STACKS["bucket"],
        TemplateBody=stand_in
        + f"  {OUT_BUCKET}:\n    Value: xal-vm-bucket-abc\n  {OUT_EXPORT_ROLE}:\n    Value: XAL-VM-BUCKET-Role-1\n",
    )
    sm = factory.client("secretsmanager")
    sm.create_secret(Name="xal/github-token", SecretString=json.dumps({"Token": SECRET_VALUES[0]}))
    sm.create_secret(Name="Dockerhub", SecretString=json.dumps({"User": "u", "AccessToken": SECRET_VALUES[1]}))
    yield [
        waf_spec(["192.0.2.10", "198.51.100.0/24"]),
        bucket_spec(factory),
        codebuild_spec(factory, "ci"),
        codebuild_spec(factory, "release"),
    ]


def test_rendered_parameter_sets_pass_cfn_lint(rendered_specs: list[StackSpec], tmp_path: Path) -> None:
    for spec in rendered_specs:
        _check_constraints(spec)
        result = run_lint(spec.template, "--parameter-files", str(_lint_parameter_file(spec, tmp_path)))
        assert result.returncode == 0, f"{spec.name}: {result.stdout}{result.stderr}"
        rendered = json.dumps(dict(spec.parameters))
        assert not any(secret in rendered for secret in SECRET_VALUES), "secret values must never be parameters"


def test_rendered_parameters_carry_the_earlier_stacks_outputs(rendered_specs: list[StackSpec]) -> None:
    waf, bucket, ci, release = rendered_specs
    assert waf.region == WAF_REGION
    assert waf.parameters == {"AllowedIpCidrs": "192.0.2.10/32,198.51.100.0/24"}
    assert bucket.parameters == {"WebAclArn": ACL_ARN, "PathInBucket": S3_PREFIX_ROOT}
    for spec in (ci, release):
        assert spec.parameters["VMBucketName"] == "xal-vm-bucket-abc"
        assert spec.parameters["VMExportRoleName"] == "XAL-VM-BUCKET-Role-1"
        assert spec.parameters["GitHubTokenSecretArn"].startswith("arn:aws:secretsmanager:eu-central-1:")
        assert ":secret:xal/github-token-" in spec.parameters["GitHubTokenSecretArn"]
        assert ":secret:Dockerhub-" in spec.parameters["DockerRegistrySecretArn"]


def test_lint_rejects_an_undeclared_parameter(tmp_path: Path) -> None:
    """A parameter the template does not declare fails cfn-lint (so renamed parameters are caught)."""
    spec = StackSpec("X", template_path("bucket"), "eu-central-1", {"WebAclArn": ACL_ARN, "Bogus": "1"})
    result = run_lint(spec.template, "--parameter-files", str(_lint_parameter_file_loose(spec, tmp_path)))
    assert result.returncode != 0
    assert "Bogus" in result.stdout


def _lint_parameter_file_loose(spec: StackSpec, tmp_path: Path) -> Path:
    path = tmp_path / "loose.json"
    path.write_text(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in spec.parameters.items()]))
    return path


# -- WAF --------------------------------------------------------------------------------------


def test_waf_rate_limit_and_captcha_outside_allow_list() -> None:
    t = load("waf.yaml")
    assert t["Parameters"]["AllowedIpCidrs"]["Type"] == "CommaDelimitedList"
    ip_set = only(t, "AWS::WAFv2::IPSet")["Properties"]
    assert ip_set["Scope"] == "CLOUDFRONT"
    assert ip_set["IPAddressVersion"] == "IPV4"
    assert ip_set["Addresses"] == {"Ref": "AllowedIpCidrs"}
    acl = only(t, "AWS::WAFv2::WebACL")["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    assert "Allow" in acl["DefaultAction"]
    rules = sorted(acl["Rules"], key=lambda r: r["Priority"])
    assert len(rules) == 3
    rate, bad_inputs, captcha = rules
    # AWS's Known bad inputs group (Log4JRCE among its rules) blocks, not just counts, for every request
    assert bad_inputs["Statement"] == {
        "ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesKnownBadInputsRuleSet"}
    }
    assert bad_inputs["OverrideAction"] == {"None": {}}
    assert list(rate["Action"]) == ["Block"]
    assert rate["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": 100,
        "EvaluationWindowSec": 300,
    }
    assert list(captcha["Action"]) == ["Captcha"]
    ref = captcha["Statement"]["NotStatement"]["Statement"]["IPSetReferenceStatement"]
    ip_set_id = next(iter(resources(t, "AWS::WAFv2::IPSet")))
    assert ref["Arn"] == {"Fn::GetAtt": [ip_set_id, "Arn"]}
    acl_id = next(iter(resources(t, "AWS::WAFv2::WebACL")))
    assert t["Outputs"][OUT_WAF_ACL_ARN]["Value"] == {"Fn::GetAtt": [acl_id, "Arn"]}


# -- VM bucket --------------------------------------------------------------------------------


def test_bucket_is_private_retained_encrypted() -> None:
    t = load("vm-bucket.yaml")
    bucket = t["Resources"]["VMBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # SSE-S3: exports work
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "AccessControl" not in props
    assert "BucketName" not in props  # generated: a retained bucket never blocks a re-create
    assert props["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": "LogBucket"}, "LogFilePrefix": "s3/"}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireNoncurrentVersions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}


def test_log_bucket_is_private_tls_only_and_expires_its_logs() -> None:
    t = load("vm-bucket.yaml")
    log = t["Resources"]["LogBucket"]
    props = log["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # CloudFront logs need SSE-S3
    # CloudFront standard logging writes with an ACL: ACLs stay on for the owner only
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    expire = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}["ExpireLogs"]
    assert expire["Status"] == "Enabled"
    assert expire["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    assert t["Parameters"]["LogRetentionDays"]["Default"] == 90
    policy = t["Resources"]["LogBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "LogBucket"}
    deny, deliver = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deliver["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert deliver["Action"] == "s3:PutObject"
    assert deliver["Resource"] == {"Fn::Sub": "${LogBucket.Arn}/s3/*"}
    assert deliver["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": ["VMBucket", "Arn"]}}
    assert deliver["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_bucket_policy_is_tls_only_and_limited_to_the_distribution() -> None:
    t = load("vm-bucket.yaml")
    bucket_id = "VMBucket"
    dist_id = next(iter(resources(t, "AWS::CloudFront::Distribution")))
    policy = t["Resources"]["VMBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": bucket_id}
    statements = policy["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert len(deny) == 1
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(as_list(deny[0]["Resource"])) == 2  # the bucket and its objects
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    (grant,) = allow
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert as_list(grant["Action"]) == ["s3:GetObject"]
    assert grant["Resource"] == {"Fn::Sub": "${VMBucket.Arn}/${PathInBucket}/*"}
    source_arn = grant["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source_arn.endswith(f":distribution/${{{dist_id}}}")


def test_cloudfront_uses_oac_https_get_head_and_the_waf() -> None:
    t = load("vm-bucket.yaml")
    oac_id = next(iter(resources(t, "AWS::CloudFront::OriginAccessControl")))
    oac = t["Resources"][oac_id]["Properties"]["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3"
    assert oac["SigningBehavior"] == "always"
    assert oac["SigningProtocol"] == "sigv4"
    config = only(t, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["CachedMethods"] == ["GET", "HEAD"]
    assert not config.get("CacheBehaviors")
    assert config["WebACLId"] == {"Ref": "WebAclArn"}
    assert config["Logging"] == {
        "Bucket": {"Fn::GetAtt": ["LogBucket", "DomainName"]},
        "Prefix": "cloudfront/",
        "IncludeCookies": False,
    }
    assert "us-east-1" in t["Parameters"]["WebAclArn"]["AllowedPattern"]


def _export_role() -> dict[str, Any]:
    t = load("vm-bucket.yaml")
    (role_id,) = resources(t, "AWS::IAM::Role")
    assert role_id == "VMExportRole"
    return t["Resources"][role_id]["Properties"]


def test_export_role_trust_is_the_documented_one_with_confused_deputy_guards() -> None:
    role = _export_role()
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow"
    assert trust["Principal"] == {"Service": "vmie.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"sts:ExternalId": "vmimport", "aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:vmie:*:${AWS::AccountId}:*"}},
    }


def test_export_role_grants_exactly_the_documented_actions_per_resource() -> None:
    role = _export_role()
    assert "ManagedPolicyArns" not in role
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert {s["Effect"] for s in statements} == {"Allow"}
    assert not [s for s in statements if "Condition" in s or "NotAction" in s or "NotResource" in s]
    granted: dict[str, set[str]] = {}
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            granted.setdefault(json.dumps(resource, sort_keys=True), set()).update(as_list(statement["Action"]))
    assert granted == {
        json.dumps({"Fn::GetAtt": ["VMBucket", "Arn"]}): VMIMPORT_S3_ACTIONS,
        json.dumps({"Fn::Sub": "${VMBucket.Arn}/*"}): VMIMPORT_S3_ACTIONS,
        json.dumps("*"): VMIMPORT_EC2_ACTIONS,
    }


def test_export_role_cites_the_aws_documentation() -> None:
    """The comment block right above the role names the page its policy comes from."""
    lines = (CFN_DIR / "vm-bucket.yaml").read_text().splitlines()
    above = lines[: lines.index("  VMExportRole:")]
    comments = []
    while above and above[-1].startswith("  #"):
        comments.append(above.pop())
    assert [c for c in comments if c.strip() == f"# {VMIMPORT_ROLE_DOC}"]


def test_bucket_outputs_are_the_names_the_commands_read() -> None:
    t = load("vm-bucket.yaml")
    assert set(t["Outputs"]) == {OUT_BUCKET, OUT_EXPORT_ROLE, OUT_DISTRIBUTION_ID, OUT_DISTRIBUTION_DOMAIN}
    assert t["Outputs"][OUT_EXPORT_ROLE]["Value"] == {"Ref": "VMExportRole"}  # the role *name* (ExportImage RoleName)


# -- CodeBuild --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "buildspec"),
    [
        ("ci-codebuild.yaml", "aws-code-build/ci/buildspec.yaml"),
        ("release-codebuild.yaml", "aws-code-build/ci/buildspec_release.yaml"),
    ],
)
def test_codebuild_project_basics(name: str, buildspec: str) -> None:
    t = load(name)
    project = only(t, "AWS::CodeBuild::Project")["Properties"]
    assert project["TimeoutInMinutes"] == 240
    assert project["Source"]["Type"] == "GITHUB"
    assert project["Source"]["BuildSpec"] == buildspec
    assert (REPO / buildspec).is_file()
    assert project["Source"]["Auth"] == {"Type": "SECRETS_MANAGER", "Resource": {"Ref": "GitHubTokenSecretArn"}}
    log_id, log_group = next(iter(resources(t, "AWS::Logs::LogGroup").items()))
    assert log_group["Properties"]["RetentionInDays"] == 14
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": log_id}
    assert project["ServiceRole"] == {"Fn::GetAtt": [next(iter(resources(t, "AWS::IAM::Role"))), "Arn"]}
    assert t["Outputs"][OUT_PROJECT_NAME]["Value"] == {"Ref": "CodeBuildProject"}


def test_ci_webhook_only_for_codebuild_commits_off_main() -> None:
    project = only(load("ci-codebuild.yaml"), "AWS::CodeBuild::Project")["Properties"]
    triggers = project["Triggers"]
    assert triggers["Webhook"] is True
    (group,) = triggers["FilterGroups"]
    filters = {f["Type"]: f for f in group}
    assert filters["EVENT"]["Pattern"] == "PUSH"
    assert filters["HEAD_REF"]["Pattern"] == "^refs/heads/main$"
    assert filters["HEAD_REF"]["ExcludeMatchedPattern"] is True
    assert re.search(filters["COMMIT_MESSAGE"]["Pattern"], "fix export [CodeBuild]")
    assert not re.search(filters["COMMIT_MESSAGE"]["Pattern"], "fix export CodeBuild")
    assert filters["COMMIT_MESSAGE"].get("ExcludeMatchedPattern") is not True


def test_release_project_has_no_webhook() -> None:
    project = only(load("release-codebuild.yaml"), "AWS::CodeBuild::Project")["Properties"]
    assert "Triggers" not in project


@pytest.mark.parametrize("name", ["ci-codebuild.yaml", "release-codebuild.yaml"])
def test_credentials_come_from_secrets_manager(name: str) -> None:
    project = only(load(name), "AWS::CodeBuild::Project")["Properties"]
    variables = {v["Name"]: v for v in project["Environment"]["EnvironmentVariables"]}
    secretish = [n for n in variables if re.search(r"TOKEN|PASSWORD|USER|SECRET", n)]
    assert {"DOCKER_REGISTRY_USER", "DOCKER_REGISTRY_PASSWORD"} <= set(secretish)
    if name.startswith("release"):
        assert "GITHUB_TOKEN" in secretish
    for key in secretish:
        assert variables[key]["Type"] == "SECRETS_MANAGER", key
        assert "Fn::Sub" in variables[key]["Value"]  # <secret-arn>:<json-key>, never a literal
    for variable in variables.values():
        assert variable["Type"] in {"PLAINTEXT", "SECRETS_MANAGER"}
    for p in load(name)["Parameters"].values():
        assert "Default" not in p or not re.search(r"ghp_|github_pat_|dckr_pat_", str(p["Default"]))


@pytest.mark.parametrize("path", ["aws-code-build/ci/buildspec.yaml", "aws-code-build/ci/buildspec_release.yaml"])
def test_buildspecs_keep_secrets_out_of_plaintext_and_logs(path: str) -> None:
    text = (REPO / path).read_text()
    spec = yaml.safe_load(text)
    assert spec["version"] == 0.2
    variables = spec.get("env", {}).get("variables", {})
    assert not [k for k in variables if re.search(r"TOKEN|REGISTRY", k)]
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    for command in commands:
        assert not re.search(r"echo[^|]*\$\{?(GITHUB_TOKEN|DOCKER_REGISTRY_PASSWORD)", command), command
    assert any("xal" in c for c in commands)


def test_ci_buildspec_runs_the_aws_tier_and_release_builds() -> None:
    ci = (REPO / "aws-code-build/ci/buildspec.yaml").read_text()
    assert "bash scripts/bootstrap" in ci
    assert "XAL_AWS_TESTS=1 .venv/bin/python -m pytest tests/aws" in ci
    release = (REPO / "aws-code-build/ci/buildspec_release.yaml").read_text()
    assert "pip install" in release and "-e ." in release and "packer" in release
    assert re.search(r"\.venv/bin/xal release --asset-id", release)  # the whole release graph, one command


# -- IAM least privilege ----------------------------------------------------------------------


def _policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for rid, res in template["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            for policy in res["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield rid, statement


@pytest.mark.parametrize("name", ["ci-codebuild.yaml", "release-codebuild.yaml"])
def test_codebuild_roles_are_scoped(name: str) -> None:
    t = load(name)
    by_sid = {s.get("Sid"): s for _, s in _policy_statements(t)}
    assert by_sid["PassExportRole"]["Action"] == "iam:PassRole"
    assert "${VMExportRoleName}" in by_sid["PassExportRole"]["Resource"]["Fn::Sub"]
    assert by_sid["Secrets"]["Resource"] == [{"Ref": "GitHubTokenSecretArn"}, {"Ref": "DockerRegistrySecretArn"}]
    assert by_sid["VMImages"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${VMBucketName}/${PathInBucket}/*"}
    read = by_sid["ReadPermanentStacks"]["Resource"]
    assert [f":stack/{PERMANENT_STACKS['bucket']}/*" in r["Fn::Sub"] for r in read] == [True]
    actions = {a for _, s in _policy_statements(t) for a in as_list(s["Action"])}
    assert ("ec2:ModifyImageAttribute" in actions) == name.startswith("release")  # only releases publish AMIs
    if name.startswith("ci"):
        temp = by_sid["TemporaryStacks"]["Resource"]["Fn::Sub"]
        assert temp.endswith(":stack/${TemporaryStackPrefix}*/*")
    (trust,) = only(t, "AWS::IAM::Role")["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}


# -- release workflow -------------------------------------------------------------------------


def test_release_workflow_starts_the_release_build() -> None:
    text = (REPO / ".github/workflows/release.yml").read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["release"]["types"] == ["published"]
    assert "upload_url" in triggers["workflow_dispatch"]["inputs"]
    (job,) = workflow["jobs"].values()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    start = next(r for r in runs if "start-release-build" in r)
    assert "--upload-url" in start and "--branch" in start
    check = next(i for i, r in enumerate(runs) if "xal release-check" in r)
    assert check < runs.index(start)  # the gate runs before anything is built
    assert "--tag" in runs[check]
    for run in (start, runs[check]):
        assert "${{" not in run  # values reach the shell through env, never by expression injection
    assert workflow["permissions"]["id-token"] == "write"
