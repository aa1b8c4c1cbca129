import pytest

from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import stack_output, stack_outputs
from xal.config import Settings
from xal.errors import ExitCode, NotFoundError

TEMPLATE = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
Outputs:
  VMBucketId:
    Value: !Ref Bucket
"""


def test_outputs_of_an_existing_stack(moto_endpoint: str) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    factory.client("cloudformation").create_stack(StackName="XAL-VM-BUCKET", TemplateBody=TEMPLATE)
    outputs = stack_outputs(factory, "XAL-VM-BUCKET")
    assert outputs["VMBucketId"] in [b["Name"] for b in factory.client("s3").list_buckets()["Buckets"]]
    with pytest.raises(NotFoundError, match="has no output Nope"):
        stack_output(factory, "XAL-VM-BUCKET", "Nope")


def test_missing_stack_is_not_found_with_region(moto_endpoint: str) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    with pytest.raises(NotFoundError, match="stack XAL-VM-BUCKET-WAF not found in us-east-1") as info:
        stack_outputs(factory, "XAL-VM-BUCKET-WAF", "us-east-1")
    assert info.value.exit_code == ExitCode.NOT_FOUND
