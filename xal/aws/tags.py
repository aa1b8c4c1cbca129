"""AWS tags: the Key/Value list form the APIs speak and the dict form the code reasons in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def tags_of(resource: Mapping[str, Any], key: str = "Tags") -> dict[str, str]:
    """A described resource's tags as a dict (missing or null ``Tags`` = no tags)."""
    return {t["Key"]: t["Value"] for t in resource.get(key) or []}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A dict of tags in the ``[{"Key": ..., "Value": ...}]`` form create and tag calls take."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_specifications(tags: Mapping[str, str], *resource_types: str) -> list[dict[str, Any]]:
    """TagSpecifications for create calls, so a resource is tagged from the moment it exists."""
    return [{"ResourceType": rt, "Tags": tag_list(tags)} for rt in resource_types]
