"""Read CloudFormation stack outputs: how commands find the permanent resources (bucket, role, CDN).

Output names are a contract between ``cloudformation/*.yaml`` and the commands that read them.
"""

from __future__ import annotations

from typing import Any

from xal.aws.errors import error_message
from xal.aws.session import AwsSessionFactory
from xal.errors import NotFoundError

# bucket stack
OUT_BUCKET = "VMBucketId"
OUT_EXPORT_ROLE = "VMExportRoleId"
OUT_DISTRIBUTION_ID = "CfDistributionId"
OUT_DISTRIBUTION_DOMAIN = "CfDistributionDomainName"
# WAF stack (always us-east-1: CloudFront web ACLs live there)
OUT_WAF_ACL_ARN = "VMDownloadACLArn"
WAF_REGION = "us-east-1"
# CodeBuild stacks
OUT_PROJECT_NAME = "ProjectName"


def describe_stack(factory: AwsSessionFactory, name: str, region: str | None = None) -> dict[str, Any] | None:
    """The stack's description, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        stacks = factory.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in error_message(exc):
            return None
        raise
    return stacks[0] if stacks else None


def stack_outputs(factory: AwsSessionFactory, name: str, region: str | None = None) -> dict[str, str]:
    """All outputs of a stack; NotFoundError (with the deploy hint) when the stack is missing."""
    stack = describe_stack(factory, name, region)
    where = region or factory.settings.region
    if stack is None:
        raise NotFoundError(f"stack {name} not found in {where}; deploy it first (see `xal --help`, Deployment)")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_output(factory: AwsSessionFactory, name: str, key: str, region: str | None = None) -> str:
    outputs = stack_outputs(factory, name, region)
    if key not in outputs:
        raise NotFoundError(f"stack {name} has no output {key} (outputs: {', '.join(sorted(outputs)) or 'none'})")
    return outputs[key]
