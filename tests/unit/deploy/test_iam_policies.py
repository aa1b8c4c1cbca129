"""Every IAM policy statement of every template: no action on "*" outside a short allow-list, and
the CodeBuild roles reach EC2 only through the asset tag.

moto does not evaluate IAM, so these are checks of the policy documents themselves; the condition
keys per action follow the Service Authorization Reference for EC2 (cloudformation/README.md,
"Security").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xal.deploy.stacks import TEMPLATES
from xal.naming import TAG_KEY

REPO = Path(__file__).resolve().parents[3]
CFN_DIR = REPO / "cloudformation"
CODEBUILD = ("ci-codebuild.yaml", "release-codebuild.yaml")

# Actions a template may grant on Resource "*", and why. Keep it short: anything else names its resources.
STAR_RESOURCE_ALLOWED = {
    # EC2's Describe* actions have no resource-level permissions: "*" is the only resource they take
    "ec2:DescribeExportImageTasks",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstances",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeRegions",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "ec2:DescribeVpcs",
    # CloudFormation: listing stacks and validating a template name no stack
    "cloudformation:ListStacks",
    "cloudformation:ValidateTemplate",
    # the vmimport service role exactly as the VM Import/Export User Guide documents it (vm-bucket.yaml;
    # only vmie.amazonaws.com can assume it)
    "ec2:ModifySnapshotAttribute",
    "ec2:CopySnapshot",
    "ec2:RegisterImage",
    "ec2:Describe*",
}
# Wildcard *actions* (not resources) a role may hold, because AWS documents them for that role.
WILDCARD_ACTIONS_ALLOWED = {("vm-bucket.yaml", "VMExportRole"): {"ec2:Describe*"}}

# CodeBuild statements granting EC2 writes without a tag condition, each explained by a comment
# right above it in the template (the test checks the comment is there and says so).
UNTAGGED_EC2_STATEMENTS = {"RunInstancesFromAnyImageAndSubnet", "CreateSecurityGroupInAnyVpc", "CopyImages"}
REQUEST_TAG = f"aws:RequestTag/{TAG_KEY}"
RESOURCE_TAG = f"aws:ResourceTag/{TAG_KEY}"
# what EC2 calls each kind of statement may hold
CREATES = {"ec2:RunInstances", "ec2:CreateKeyPair", "ec2:CreateSecurityGroup", "ec2:CreateImage", "ec2:ExportImage"}
CHANGES = {
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CancelExportTask",
    "ec2:CreateImage",
    "ec2:CreateTags",
    "ec2:DeleteKeyPair",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteVolume",
    "ec2:DeregisterImage",
    "ec2:ExportImage",
    "ec2:ModifyImageAttribute",
    "ec2:ModifyInstanceAttribute",
    "ec2:RunInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
}


def load(name: str, directory: Path = CFN_DIR) -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(directory / name))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every policy document anywhere in the template (roles, bucket policies, ...)."""
    if isinstance(node, dict):
        if "Statement" in node and "Version" in node:
            for statement in as_list(node["Statement"]):
                yield where, statement
            return
        for key, value in node.items():
            yield from policy_statements(value, where or key)
    elif isinstance(node, list):
        for value in node:
            yield from policy_statements(value, where)


def statements_of(name: str, directory: Path = CFN_DIR) -> list[tuple[str, dict[str, Any]]]:
    return list(policy_statements(load(name, directory)["Resources"]))


def star_resource_violations(name: str, directory: Path = CFN_DIR) -> list[str]:
    found = []
    for rid, statement in statements_of(name, directory):
        if statement["Effect"] != "Allow" or "Resource" not in statement:  # trust policies name no resource
            continue
        actions = [str(a) for a in as_list(statement.get("Action", []))]
        wildcards = WILDCARD_ACTIONS_ALLOWED.get((name, rid), set())
        at = f"{rid}/{statement.get('Sid')}"
        found += [f"{at}: wildcard action {a}" for a in actions if "*" in a and a not in wildcards]
        if "*" in as_list(statement["Resource"]):
            found += [f"{at}: {a} on *" for a in actions if a not in STAR_RESOURCE_ALLOWED]
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{at}: NotAction/NotResource")
    return found


@pytest.mark.parametrize("name", sorted(TEMPLATES.values()))
def test_no_action_on_star_outside_the_allow_list(name: str) -> None:
    assert not star_resource_violations(name)


def test_the_walk_finds_a_star_resource_that_is_not_allowed(tmp_path: Path) -> None:
    """The policy test is not vacuous: the CodeBuild role of before (EC2 writes on "*") fails it."""
    text = (CFN_DIR / "release-codebuild.yaml").read_text()
    broken = text.replace(
        "              - Sid: Ec2Read\n",
        "              - Sid: Old\n                Effect: Allow\n                Action: [ec2:TerminateInstances]\n"
        '                Resource: "*"\n              - Sid: Ec2Read\n',
    )
    (tmp_path / "release-codebuild.yaml").write_text(broken)
    found = star_resource_violations("release-codebuild.yaml", tmp_path)
    assert found == ["CodeBuildRole/Old: ec2:TerminateInstances on *"]


def test_every_template_has_policy_statements_to_walk() -> None:
    counts = {name: len(statements_of(name)) for name in TEMPLATES.values()}
    assert counts["vm-bucket.yaml"] >= 6  # two bucket policies, the export role's trust and permissions
    assert all(counts[name] >= 15 for name in CODEBUILD), counts


# -- the CodeBuild roles ----------------------------------------------------------------------


def role_statements(name: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for rid, s in statements_of(name) if rid == "CodeBuildRole" and "Sid" in s}


def _tag_condition(statement: dict[str, Any]) -> str | None:
    """Which asset-tag key the statement requires to be non-empty, if any."""
    like = statement.get("Condition", {}).get("StringLike", {})
    for key in (REQUEST_TAG, RESOURCE_TAG):
        if like.get(key) == "?*":
            return key
    return None


@pytest.mark.parametrize("name", CODEBUILD)
def test_ec2_writes_need_the_asset_tag_in_the_request_or_on_the_resource(name: str) -> None:
    for sid, s in role_statements(name).items():
        actions = {a for a in as_list(s["Action"]) if a.startswith("ec2:")}
        writes = {a for a in actions if not a.startswith("ec2:Describe")}
        if not writes or sid in UNTAGGED_EC2_STATEMENTS:
            continue
        condition = _tag_condition(s)
        if sid == "TagOnCreate":
            assert writes == {"ec2:CreateTags"}
            assert set(s["Condition"]["StringEquals"]["ec2:CreateAction"]) <= {a.split(":")[1] for a in CREATES} | {
                "CopyImage"
            }
        elif sid == "TagCopiedSnapshots":
            assert writes == {"ec2:CreateTags"}
            assert s["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ec2:*::snapshot/*"}
            assert condition == REQUEST_TAG
            assert set(s["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]) == {TAG_KEY, "Name"}
        elif condition == REQUEST_TAG:
            assert writes <= CREATES, (sid, writes - CREATES)
        else:
            assert condition == RESOURCE_TAG, f"{name}/{sid}: EC2 writes {sorted(writes)} without a tag condition"
            assert writes <= CHANGES, (sid, writes - CHANGES)


@pytest.mark.parametrize("name", CODEBUILD)
def test_untagged_ec2_statements_are_few_and_explained(name: str) -> None:
    statements = role_statements(name)
    untagged = {
        sid
        for sid, s in statements.items()
        if any(a.startswith("ec2:") and not a.startswith("ec2:Describe") for a in as_list(s["Action"]))
        and _tag_condition(s) is None
        and "Condition" not in s
    }
    assert untagged == UNTAGGED_EC2_STATEMENTS
    lines = (CFN_DIR / name).read_text().splitlines()
    for sid in untagged:
        at = lines.index(f"              - Sid: {sid}")
        comment = []
        while lines[at - 1].strip().startswith("#"):
            at -= 1
            comment.insert(0, lines[at].strip().lstrip("#").strip())
        assert re.search(r"no tag condition possible", " ".join(comment), re.IGNORECASE), sid
    # what those untagged statements may do: launch from an image/subnet, make a group in a VPC, copy AMIs
    assert statements["RunInstancesFromAnyImageAndSubnet"]["Action"] == "ec2:RunInstances"
    assert statements["CreateSecurityGroupInAnyVpc"]["Action"] == "ec2:CreateSecurityGroup"
    assert statements["CopyImages"]["Action"] == "ec2:CopyImage"


@pytest.mark.parametrize("name", CODEBUILD)
def test_run_instances_splits_created_from_used_resources(name: str) -> None:
    s = role_statements(name)
    created = {r["Fn::Sub"].rsplit(":", 1)[1] for r in s["RunInstancesOnlyTagged"]["Resource"]}
    assert created == {"instance/*", "network-interface/*", "volume/*"}  # what Packer tags at launch
    used = {r["Fn::Sub"].rsplit(":", 1)[1] for r in s["RunInstancesWithTaggedKeyAndGroup"]["Resource"]}
    assert used == {"key-pair/*", "security-group/*"}
    assert _tag_condition(s["RunInstancesWithTaggedKeyAndGroup"]) == RESOURCE_TAG


@pytest.mark.parametrize("name", CODEBUILD)
def test_iam_only_passes_and_reads_the_export_role(name: str) -> None:
    iam = {a: s for s in role_statements(name).values() for a in as_list(s["Action"]) if str(a).startswith("iam:")}
    assert set(iam) == {"iam:PassRole", "iam:GetRole"}
    export_role = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${VMExportRoleName}"}
    assert iam["iam:PassRole"]["Resource"] == export_role
    assert iam["iam:PassRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "vmie.amazonaws.com"}}
    assert iam["iam:GetRole"]["Resource"] == export_role


@pytest.mark.parametrize("name", CODEBUILD)
def test_no_snapshot_deletion_or_sharing(name: str) -> None:
    actions = {a for s in role_statements(name).values() for a in as_list(s["Action"])}
    assert not actions & {"ec2:DeleteSnapshot", "ec2:ModifySnapshotAttribute", "ec2:CreateVolume"}
    assert ("ec2:ModifyImageAttribute" in actions) == name.startswith("release")


def test_release_role_covers_what_xal_calls_on_ec2() -> None:
    """Each EC2 call in xal's release path (build-ami manifest/copies, export, make-ami-public) is granted."""
    statements = role_statements("release-codebuild.yaml").values()
    granted = {a.split(":")[1] for s in statements for a in as_list(s["Action"])}
    release_modules = ["xal/export/publish.py", "xal/export/tasks.py", "xal/export/preflight.py", "xal/aws/images.py"]
    called = set()
    for module in release_modules:
        for method in re.findall(r"\bec2\.(\w+)\(", (REPO / module).read_text()):
            if method not in {"get_paginator", "get_waiter"}:
                called.add("".join(part.title() for part in method.split("_")))
    assert called >= {"ExportImage", "DescribeImages", "ModifyImageAttribute", "CopyImage", "CreateTags"}
    assert called <= granted, sorted(called - granted)


def test_ci_role_covers_the_boot_test_of_the_aws_tier() -> None:
    """The AWS tier (tests/aws, run by the CI project) boot-tests the AMI it built: every EC2 call of
    the temporary instances and of boot-test is granted to the CI role."""
    statements = role_statements("ci-codebuild.yaml").values()
    granted = {a.split(":")[1] for s in statements for a in as_list(s["Action"])}
    called = set()
    for module in ["xal/aws/temporary_instances.py", "xal/firstboot/run.py"]:
        for method in re.findall(r"\bec2\.(\w+)\(", (REPO / module).read_text()):
            if method not in {"get_paginator", "get_waiter"}:
                called.add("".join(part.title() for part in method.split("_")))
    assert called >= {"CreateKeyPair", "CreateSecurityGroup", "RunInstances", "TerminateInstances"}
    assert called <= granted, sorted(called - granted)
