"""Everything that exists for an asset (found by tag and S3 prefix), with the command that removes it.

Used when ``create-vm``/``export-vm`` fail: the user sees what the run left behind and how to
clean it up. Queried from AWS rather than remembered, so assets created by Packer or by an
earlier run are listed too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from xal import naming
from xal.aws.session import AwsSessionFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asset:
    kind: str
    region: str
    ident: str
    detail: str
    cleanup: str


def list_assets(
    factory: AwsSessionFactory, asset_id: str, regions: list[str], bucket: str | None = None
) -> list[Asset]:
    """AMIs, snapshots and export tasks in ``regions`` and VM image objects in ``bucket``; best effort."""
    found: list[Asset] = []
    tag_filter = [{"Name": f"tag:{naming.TAG_KEY}", "Values": [asset_id]}]
    for region in dict.fromkeys(regions):
        ec2 = factory.client("ec2", region)
        flag = f"--region {region}"
        try:
            snapshot_ids: dict[str, str] = {}
            for image in ec2.describe_images(Owners=["self"], Filters=tag_filter)["Images"]:
                public = " public" if image.get("Public") else ""
                found.append(
                    Asset(
                        "AMI",
                        region,
                        image["ImageId"],
                        f"{image.get('Name')} {image.get('State')}{public}",
                        f"aws ec2 deregister-image {flag} --image-id {image['ImageId']}",
                    )
                )
                for mapping in image.get("BlockDeviceMappings", []):
                    if mapping.get("Ebs", {}).get("SnapshotId"):
                        snapshot_ids[mapping["Ebs"]["SnapshotId"]] = f"of {image['ImageId']}"
            # tagged snapshots, and the (possibly untagged) snapshots behind the asset's AMIs
            for snap in ec2.describe_snapshots(OwnerIds=["self"], Filters=tag_filter)["Snapshots"]:
                snapshot_ids.setdefault(snap["SnapshotId"], f"{snap.get('VolumeSize')} GiB {snap.get('State')}")
            for snap_id, detail in snapshot_ids.items():
                found.append(
                    Asset(
                        "snapshot",
                        region,
                        snap_id,
                        detail,
                        f"aws ec2 delete-snapshot {flag} --snapshot-id {snap_id} (after deregistering its AMI)",
                    )
                )
        except Exception as exc:  # a listing must not hide the original failure
            log.warning("could not list EC2 assets in %s: %s", region, exc)
        try:
            from xal.export.tasks import list_tasks

            for task in list_tasks(ec2):
                if task.asset_id == asset_id and task.active:
                    found.append(
                        Asset(
                            "export task",
                            region,
                            task.task_id,
                            f"{task.image_id} {task.status} {task.progress or 0}%",
                            f"aws ec2 cancel-export-task {flag} --export-task-id {task.task_id}",
                        )
                    )
        except Exception as exc:
            log.warning("could not list export tasks in %s: %s", region, exc)
    if bucket:
        try:
            s3 = factory.client("s3")
            prefix = naming.s3_prefix(asset_id)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    found.append(
                        Asset(
                            "S3 object",
                            factory.settings.region,
                            obj["Key"],
                            f"{obj['Size']} bytes",
                            f"aws s3 rm s3://{bucket}/{obj['Key']}",
                        )
                    )
        except Exception as exc:
            log.warning("could not list s3://%s: %s", bucket, exc)
    return found


def print_cleanup_report(assets: list[Asset], asset_id: str) -> None:
    """On stderr: the assets and the commands that delete them (nothing is deleted automatically)."""
    from rich.table import Table

    from xal.console import err

    if not assets:
        err().print(f"no AWS assets of {asset_id} were left behind", highlight=False)
        return
    table = Table("kind", "region", "id", "detail", title=f"assets of {asset_id} created so far")
    for a in assets:
        table.add_row(a.kind, a.region, a.ident, a.detail)
    err().print(table)
    err().print("There were errors; these assets are kept. To delete them:", highlight=False)
    for a in assets:
        err().print(f"  {a.cleanup}", markup=False, highlight=False)
