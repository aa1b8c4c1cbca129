"""Opt-in tier: talks to a real AWS account. Runs only with XAL_AWS_TESTS=1 (see tests/conftest.py)."""

import pytest

from xal import defaults
from xal.aws.session import AwsSessionFactory
from xal.config import load_settings

pytestmark = pytest.mark.aws


def test_credentials_resolve_to_an_account() -> None:
    factory = AwsSessionFactory(load_settings({}))
    assert factory.client("sts").get_caller_identity()["Account"].isdigit()


def test_canonical_source_ami_filter_finds_an_image() -> None:
    factory = AwsSessionFactory(load_settings({}))
    images = factory.client("ec2").describe_images(
        Owners=list(defaults.SOURCE_AMI_OWNERS),
        Filters=[{"Name": "name", "Values": [defaults.SOURCE_AMI_NAME_FILTER]}],
    )["Images"]
    assert images
