"""The export state machine against botocore's Stubber: model-validated requests and responses,
a fake clock, no moto."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tests.unit.fakes import FakeClock
from xal import naming
from xal.aws.export_tasks import RELEASE_AMI_TAG
from xal.aws.session import AwsSessionFactory
from xal.aws.tags import tag_list
from xal.config import Settings
from xal.export.pipeline import AwsExportBackend
from xal.export.scheduler import ExportScheduler, JobRun, Phase
from xal.export.tasks import (
    FORMAT_TAG,
    Backoff,
    ExportJob,
    ExportTarget,
    PollPolicy,
    TaskState,
    client_token,
)
from xal.naming import VmFormat

REGION = "eu-central-1"
AMI = "ami-0123456789abcdef0"
TARGET = ExportTarget("vm-bucket", "vmimport", "d111.cloudfront.net")
JOB = ExportJob("7.1.0", AMI, REGION, VmFormat.VMDK)
POLICY = PollPolicy(initial=10, factor=1.5, maximum=30, timeout=100)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[Phase, int | None, str]] = []

    def update(self, run: JobRun) -> None:
        self.seen.append((run.phase, run.progress, run.message))


class StubbedBackend(AwsExportBackend):
    """The real backend (ExportImage, DescribeExportImageTasks) with the S3 rename replaced."""

    def __init__(self, ec2: Any) -> None:
        factory = AwsSessionFactory(Settings(region=REGION))
        factory._clients[("ec2", REGION)] = ec2
        super().__init__(factory, TARGET)
        self.finished: list[str] = []

    def finish(self, run: JobRun, state: TaskState | None) -> Any:  # noqa: ARG002
        self.finished.append(run.task_id or "")
        return {"key": f"renamed {run.task_id}"}


@pytest.fixture
def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def task(tid: str, status: str, progress: str | None = None, message: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "ExportImageTaskId": tid,
        "ImageId": AMI,
        "Status": status,
        "S3ExportLocation": {"S3Bucket": TARGET.bucket, "S3Prefix": "ai_lab/7.1.0/"},
        "Tags": [{"Key": "exa_ai_lab_id", "Value": "7.1.0"}, {"Key": FORMAT_TAG, "Value": "VMDK"}],
    }
    if progress is not None:
        raw["Progress"] = progress
    if message is not None:
        raw["StatusMessage"] = message
    return raw


def expect_start(stub: Stubber, tid: str = "export-ami-1", attempt: int = 0) -> None:
    stub.add_response(
        "export_image",
        {"ExportImageTaskId": tid, "Status": "active", "Progress": "0", "StatusMessage": "validating"},
        {
            "ImageId": AMI,
            "DiskImageFormat": "VMDK",
            "RoleName": "vmimport",
            "S3ExportLocation": {"S3Bucket": "vm-bucket", "S3Prefix": "ai_lab/7.1.0/"},
            "Description": ANY,
            "ClientToken": client_token(JOB, attempt),
            "TagSpecifications": [
                {
                    "ResourceType": "export-image-task",
                    "Tags": tag_list(naming.asset_tags("7.1.0", **{FORMAT_TAG: "VMDK", RELEASE_AMI_TAG: AMI})),
                }
            ],
        },
    )


def expect_describe(stub: Stubber, *tasks: dict[str, Any], ids: list[str] | None = None) -> None:
    stub.add_response(
        "describe_export_image_tasks",
        {"ExportImageTasks": list(tasks)},
        {"ExportImageTaskIds": ids or ["export-ami-1"]},
    )


def run_one(ec2: Any, stub: Stubber, clock: FakeClock, **kw: Any) -> tuple[JobRun, StubbedBackend, Recorder]:
    backend, recorder = StubbedBackend(ec2), Recorder()
    run = JobRun(JOB, **kw)
    with stub:
        ExportScheduler(backend, [run], policy=POLICY, observer=recorder, clock=clock, sleep=clock.sleep).run()
        stub.assert_no_pending_responses()
    return run, backend, recorder


def test_active_then_completed_is_renamed_with_backoff(ec2: Any) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    expect_start(stub)
    expect_describe(stub, task("export-ami-1", "active", "30", "converting"))
    expect_describe(stub, task("export-ami-1", "active", "85", "converting"))
    expect_describe(stub, task("export-ami-1", "completed", "100"))
    run, backend, recorder = run_one(ec2, stub, clock)
    assert run.phase is Phase.DONE
    assert run.result == {"key": "renamed export-ami-1"}
    assert backend.finished == ["export-ami-1"]
    assert clock.sleeps == [10, 15, 22.5]  # no waiter exists: own backoff, growing by 1.5
    assert (Phase.ACTIVE, 30, "converting") in recorder.seen
    assert (Phase.ACTIVE, 85, "converting") in recorder.seen


@pytest.mark.parametrize("status", ["deleted", "deleting"])
def test_failed_task_fails_with_its_status_message(ec2: Any, status: str) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    expect_start(stub)
    expect_describe(stub, task("export-ami-1", status, message="ClientError: Unsupported kernel version"))
    run, backend, _ = run_one(ec2, stub, clock)
    assert run.phase is Phase.FAILED
    assert f"ended {status}: ClientError: Unsupported kernel version" in (run.error or "")
    assert backend.finished == []


def test_error_starting_the_export_fails_the_job(ec2: Any) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    stub.add_client_error("export_image", "InvalidParameter", "Role vmimport does not exist or is not authorized")
    run, _, _ = run_one(ec2, stub, clock)
    assert run.phase is Phase.FAILED
    assert run.error == (
        "starting the export failed: InvalidParameter: Role vmimport does not exist or is not authorized"
    )


def test_timeout_leaves_the_task_running_and_says_how_to_resume(ec2: Any) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    expect_start(stub)
    # polls at t=10, 25, 47.5, 77.5, 107.5 (interval capped at 30); the timeout (100 s) hits after the 5th
    for progress in ("10", "20", "30", "40", "50"):
        expect_describe(stub, task("export-ami-1", "active", progress, "converting"))
    run, _, _ = run_one(ec2, stub, clock)
    assert run.phase is Phase.FAILED
    assert "still converting at 50% after 100 s" in (run.error or "")
    assert "re-run the command to resume" in (run.error or "")


def test_throttled_poll_backs_off_and_carries_on(ec2: Any) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    expect_start(stub)
    stub.add_client_error("describe_export_image_tasks", "RequestLimitExceeded", "Request limit exceeded.")
    expect_describe(stub, task("export-ami-1", "completed", "100"))
    run, _, _ = run_one(ec2, stub, clock)
    assert run.phase is Phase.DONE
    assert clock.sleeps == [10, 30]  # throttling doubled the grown interval (15 -> 30)


def test_limit_exceeded_at_start_is_retried_later(ec2: Any) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    stub.add_client_error("export_image", "ResourceLimitExceeded", "too many active export tasks")
    expect_start(stub)
    expect_describe(stub, task("export-ami-1", "completed", "100"))
    run, _, _ = run_one(ec2, stub, clock)
    assert run.phase is Phase.DONE
    assert clock.sleeps[0] == 20  # deferred by a doubled interval, then started


def test_resumed_active_task_is_polled_not_restarted(ec2: Any) -> None:
    stub, clock = Stubber(ec2), FakeClock()
    expect_describe(stub, task("export-ami-7", "completed", "100"), ids=["export-ami-7"])
    run, backend, _ = run_one(ec2, stub, clock, phase=Phase.ACTIVE, task_id="export-ami-7", resumed=True)
    assert run.phase is Phase.DONE
    assert backend.finished == ["export-ami-7"]


def test_client_token_is_stable_per_attempt() -> None:
    assert client_token(JOB, 0) == client_token(ExportJob("7.1.0", AMI, REGION, VmFormat.VMDK), 0)
    assert client_token(JOB, 0) != client_token(JOB, 1)
    assert client_token(JOB, 0) != client_token(ExportJob("7.1.0", AMI, REGION, VmFormat.VHD), 0)
    assert len(client_token(JOB, 0)) <= 64


def test_task_state_parsing() -> None:
    state = TaskState.of(task("export-ami-1", "active", "42", "converting"))
    assert (state.active, state.progress, state.asset_id, state.fmt) == (True, 42, "7.1.0", VmFormat.VMDK)
    assert TaskState.of({"ExportImageTaskId": "x", "Status": "deleted"}).failed


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(PollPolicy(initial=1, factor=2, maximum=5))
    assert [b.next() for _ in range(5)] == [1, 2, 4, 5, 5]
    b.reset()
    assert b.next() == 1
    assert b.throttled() == 4
