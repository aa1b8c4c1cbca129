"""AMIs of an asset and the regions they may live in: the questions export, publish and the
inventory all ask."""

from __future__ import annotations

from typing import Any

from xal import naming
from xal.aws.session import AwsSessionFactory


def asset_filter(asset_id: str) -> list[dict[str, Any]]:
    """The EC2 filter that selects resources tagged with this asset-id."""
    return [{"Name": f"tag:{naming.TAG_KEY}", "Values": [asset_id]}]


def asset_images(factory: AwsSessionFactory, asset_id: str, region: str | None = None) -> list[dict[str, Any]]:
    """Descriptions of this account's AMIs tagged with the asset-id in ``region`` (default: the configured one)."""
    ec2 = factory.client("ec2", region)
    return ec2.describe_images(Owners=["self"], Filters=asset_filter(asset_id))["Images"]


def enabled_regions(factory: AwsSessionFactory) -> list[str]:
    """The regions enabled for this account, sorted."""
    return sorted(r["RegionName"] for r in factory.client("ec2").describe_regions()["Regions"])
