import pytest

from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import ExitCode, XalError


def test_clients_use_endpoint_region_and_bounded_standard_retries(moto_endpoint: str) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, region="us-west-2", max_attempts=3))
    ec2 = factory.client("ec2")
    assert ec2.meta.endpoint_url == moto_endpoint
    assert ec2.meta.region_name == "us-west-2"
    assert ec2.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    other = factory.client("ec2", "us-east-1")
    assert other.meta.region_name == "us-east-1"
    assert factory.client("ec2") is ec2  # cached per (service, region)
    # it really talks to the emulator
    assert ec2.describe_regions()["Regions"]
    assert factory.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_unknown_profile_is_a_credentials_error() -> None:
    factory = AwsSessionFactory(Settings(aws_profile="no-such-profile"))
    with pytest.raises(XalError, match="'no-such-profile' not found") as info:
        factory.client("s3")
    assert info.value.exit_code == ExitCode.CREDENTIALS
