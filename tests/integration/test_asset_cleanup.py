"""Fault injection: interrupt build-ami and export at several points (SIGINT, and SIGKILL of xal and
of Packer's whole process group, as a crashed host would), then `xal show-aws-assets` must list
every leftover and `xal cleanup` must leave nothing of the asset in moto, in every region used.

Leftovers are looked up here independently of xal (all instances, AMIs, packer_ groups, key
pairs, volumes, snapshots behind AMIs or tagged, active export tasks, S3 objects and uploads).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from tests.integration.xal_cli import run_xal
from xal import rehearsal
from xal.local.moto_export import ExportFakeConfig, MotoExportFake, moto_export, seed_ami, seed_bucket_stack
from xal.local.slc_repo import serve_stand_in_repo

pytestmark = pytest.mark.integration
REGIONS = ("eu-central-1", "us-east-1")
TAG = "exa_ai_lab_id"
# the rehearsal's stand-ins for the heavy installs, in a container (no netplan apply)
QUICK_VARS = {**rehearsal.QUICK_UNBOOTED_VARS, **rehearsal.CONTAINER_VARS}
TEST_KEY = "xal-test"  # imported by the test, not created by xal


def _wait_for(check: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"xal exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is inside ``folder`` (Packer runs in its build folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = (entry / "cwd").readlink()
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            found.append(int(entry.name))
    return found


def _crash(proc: subprocess.Popen, sig: signal.Signals, state: Path) -> None:
    """SIGINT: Ctrl-C (xal forwards it, Packer cleans up). SIGKILL: xal and Packer's process group die at once."""
    if sig == signal.SIGINT:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        assert proc.returncode == 130, proc.stderr.read() if proc.stderr else ""
        return
    packer_pids = _processes_in(state / "builds")
    proc.send_signal(signal.SIGKILL)
    for pid in packer_pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)  # Packer's own group: the plugin and Ansible die too
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _processes_in(state / "builds") and time.monotonic() < deadline:
        time.sleep(0.1)


def leftovers(endpoint: str, asset: str, bucket: str | None = None) -> set[tuple[str, str]]:
    """What exists in moto that the run made (xal's own view is not consulted)."""
    left: set[tuple[str, str]] = set()
    tagged = [{"Name": f"tag:{TAG}", "Values": [asset]}]
    for region in REGIONS:
        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region)
        for reservation in ec2.describe_instances()["Reservations"]:
            for i in reservation["Instances"]:
                if i["State"]["Name"] != "terminated":
                    left.add(("instance", i["InstanceId"]))
        for image in ec2.describe_images(Owners=["self"])["Images"]:
            left.add(("ami", image["ImageId"]))
            for m in image.get("BlockDeviceMappings", []):
                if m.get("Ebs", {}).get("SnapshotId"):
                    left.add(("snapshot", m["Ebs"]["SnapshotId"]))
        for snap in ec2.describe_snapshots(OwnerIds=["self"], Filters=tagged)["Snapshots"]:
            left.add(("snapshot", snap["SnapshotId"]))
        for vol in ec2.describe_volumes()["Volumes"]:
            left.add(("volume", vol["VolumeId"]))
        for group in ec2.describe_security_groups()["SecurityGroups"]:
            if group["GroupName"] != "default":
                left.add(("security-group", group["GroupId"]))
        for pair in ec2.describe_key_pairs()["KeyPairs"]:
            if pair["KeyName"] != TEST_KEY:
                left.add(("key-pair", pair["KeyPairId"]))
        for task in ec2.describe_export_image_tasks()["ExportImageTasks"]:
            if task["Status"] == "active":
                left.add(("export-task", task["ExportImageTaskId"]))
    if bucket:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGIONS[0])
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix="ai_lab/").get("Contents", []):
            left.add(("s3-object", f"s3://{bucket}/{obj['Key']}"))
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            left.add(("s3-upload", upload["UploadId"]))
    return left


def _listed(endpoint: str, asset: str, env: dict[str, str]) -> set[tuple[str, str]]:
    result = run_xal(
        "show-aws-assets", "--asset-id", asset, "--format", "json", "--aws-endpoint-url", endpoint, env=env
    )
    if result.returncode == 3:
        assert "error: no AWS resources match asset-id" in result.stderr
        return set()
    assert result.returncode == 0, result.stderr[-3000:]
    resources = json.loads(result.stdout)["resources"]
    listed = {(r["type"], r["id"]) for r in resources}
    listed |= {("s3-upload", r["refs"]["upload_id"]) for r in resources if r["type"] == "s3-upload"}
    return listed


def _show_then_cleanup(
    endpoint: str, asset: str, env: dict[str, str], bucket: str | None = None
) -> set[tuple[str, str]]:
    """Returns what was left before the cleanup."""
    before = leftovers(endpoint, asset, bucket)
    listed = _listed(endpoint, asset, env)
    missing = before - listed
    assert not missing, f"show-aws-assets misses {missing}"
    result = run_xal("cleanup", "--asset-id", asset, "--aws-endpoint-url", endpoint, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert leftovers(endpoint, asset, bucket) == set()
    again = run_xal("cleanup", "--asset-id", asset, "--aws-endpoint-url", endpoint, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert " deleted " not in again.stdout
    return before


@pytest.fixture
def fake() -> Iterator[MotoExportFake]:
    # moto has no export tasks: the fake adds them (every test lists them)
    # VHD finishes quickly, VMDK runs long: a crash finds the VHD renamed (or renaming) and the VMDK task active
    with moto_export(
        ExportFakeConfig(duration=lambda _ami, fmt: 0.3 if fmt == "VHD" else 120, object_size=64 << 20)
    ) as f:
        yield f


# -- build-ami -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sig", "marker"),
    [
        (signal.SIGKILL, "Launching a source AWS instance"),
        (signal.SIGKILL, "Provisioning with Ansible"),
        (signal.SIGINT, "Provisioning with Ansible"),
        (signal.SIGKILL, "Creating AMI"),
    ],
    ids=["kill-at-launch", "kill-in-ansible", "ctrl-c-in-ansible", "kill-at-create-ami"],
)
def test_interrupted_build_ami_leaves_nothing_after_cleanup(
    sig: signal.Signals, marker: str, moto_endpoint: str, fake, ssh_target, packer, tmp_path: Path, xal_env
) -> None:
    asset = "fault-1"
    state = Path(xal_env["XAL_STATE_DIR"])
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGIONS[0])
    ec2.import_key_pair(KeyName=TEST_KEY, PublicKeyMaterial=Path(f"{ssh_target.key}.pub").read_bytes())
    vars_file = tmp_path / "vars.yml"
    args = (
        f"build-ami --asset-id {asset} --aws-endpoint-url {moto_endpoint} --region {REGIONS[0]}"
        f" --ami-region {REGIONS[1]} --source-ami-filter ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"
        f" --ssh-host {ssh_target.host} --ssh-port {ssh_target.port} --ssh-username {ssh_target.user}"
        f" --ssh-keypair-name {TEST_KEY} --ssh-private-key-file {ssh_target.key} --playbook-vars {vars_file}"
    ).split()

    def reached() -> bool:
        return any(marker in log.read_text() for log in state.glob(f"builds/{asset}/ami-*/packer.log"))

    with serve_stand_in_repo() as slc_vars:
        vars_file.write_text(yaml.safe_dump({**QUICK_VARS, **slc_vars}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "xal", *args],
            env=xal_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(reached, proc, repr(marker), timeout=500)
            _crash(proc, sig, state)
        finally:
            if proc.poll() is None:
                proc.kill()
    ledger = [json.loads(line) for line in (state / "ledger" / f"{asset}.jsonl").read_text().splitlines()]
    assert ledger[0]["type"] == "packer-build"
    before = _show_then_cleanup(moto_endpoint, asset, xal_env)
    kinds = {kind for kind, _ in before}
    if sig == signal.SIGINT:  # Packer ran its own cleanup: nothing leaked
        assert before == set()
        assert [e["phase"] for e in ledger] == ["intent", "ended"]
    else:  # a crashed host: at least Packer's temporary security group is left behind
        assert "security-group" in kinds, before
        assert len(ledger) == 1  # the intent only: nobody recorded the end
        if marker == "Provisioning with Ansible":
            assert "instance" in kinds


# -- export ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sig", "point"),
    [(signal.SIGKILL, "tasks-active"), (signal.SIGINT, "tasks-active"), (signal.SIGKILL, "renaming")],
)
def test_interrupted_export_leaves_nothing_after_cleanup(
    sig: signal.Signals, point: str, moto_endpoint: str, fake: MotoExportFake, xal_env
) -> None:
    asset = "fault-2"
    state = Path(xal_env["XAL_STATE_DIR"])
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    seed_ami(moto_endpoint, asset)
    args = ["export", "--asset-id", asset, "--aws-endpoint-url", moto_endpoint, "--poll-interval", "0.1"]
    args += ["--poll-max-interval", "0.2", "--part-size-mib", "5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "xal", *args], env=xal_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    ledger = state / "ledger" / f"{asset}.jsonl"

    def tasks_active() -> bool:  # one task per AMI at a time: VHD first (done and renamed), then VMDK
        return any(t.fmt == "VMDK" and t.data["Status"] == "active" for t in list(fake.tasks.values()))

    def renaming() -> bool:
        return ledger.exists() and '"type": "s3-object"' in ledger.read_text()

    try:
        _wait_for(tasks_active if point == "tasks-active" else renaming, proc, point, timeout=120)
        _crash(proc, sig, state)
    finally:
        if proc.poll() is None:
            proc.kill()
    if point == "tasks-active":
        assert any(t.data["Status"] == "active" for t in fake.tasks.values())  # the long VMDK export still runs
    _show_then_cleanup(moto_endpoint, asset, xal_env, bucket)
    if point == "tasks-active":
        assert fake.calls["CancelExportTask"] >= 1
    # the permanent bucket stack is never touched
    cfn = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGIONS[0])
    assert cfn.describe_stacks(StackName="XAL-VM-BUCKET")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
