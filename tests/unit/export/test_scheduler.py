"""Concurrency limits of the scheduler with a simulated backend on a fake clock."""

from __future__ import annotations

from typing import Any

from xal.export.scheduler import ExportScheduler, JobRun, Phase
from xal.export.tasks import ExportJob, PollPolicy, TaskState
from xal.naming import VmFormat

REGION = "eu-central-1"


class SimBackend:
    """Tasks take ``durations[(ami, fmt)]`` seconds of (fake) time; records concurrency."""

    def __init__(self, clock: list[float], durations: dict[tuple[str, str], float]) -> None:
        self.clock, self.durations = clock, durations
        self.tasks: dict[str, tuple[JobRun, float]] = {}
        self.max_region = 0
        self.overlap_per_ami = False

    def _active(self) -> list[JobRun]:
        now = self.clock[0]
        return [run for run, end in self.tasks.values() if end > now]

    def start(self, run: JobRun) -> TaskState:
        active = self._active()
        if any(r.job.ami_id == run.job.ami_id for r in active):
            self.overlap_per_ami = True
        tid = f"export-ami-{len(self.tasks)}"
        self.tasks[tid] = (run, self.clock[0] + self.durations[(run.job.ami_id, run.job.fmt.value)])
        self.max_region = max(self.max_region, len(active) + 1)
        return TaskState(tid, "active", progress=0)

    def describe(self, region: str, task_ids: list[str]) -> dict[str, TaskState]:  # noqa: ARG002
        return {
            tid: TaskState(tid, "completed" if self.tasks[tid][1] <= self.clock[0] else "active")
            for tid in task_ids
            if tid in self.tasks
        } | {tid: TaskState(tid, "active") for tid in task_ids if tid.startswith("foreign")}

    def finish(self, run: JobRun, state: Any) -> str:  # noqa: ARG002
        return f"{run.job.ami_id}.{run.job.fmt.extension}"


def _runs(amis: list[str]) -> list[JobRun]:
    return [JobRun(ExportJob("a", ami, REGION, fmt)) for ami in amis for fmt in (VmFormat.VHD, VmFormat.VMDK)]


def _schedule(
    durations: dict[tuple[str, str], float], limit: int, foreign: set[str] | None = None
) -> tuple[list[JobRun], SimBackend, float]:
    clock = [0.0]
    backend = SimBackend(clock, durations)
    runs = _runs(sorted({a for a, _ in durations}))

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    ExportScheduler(
        backend,
        runs,
        max_active_per_region=limit,
        policy=PollPolicy(initial=1, factor=1, maximum=1, timeout=10_000),
        foreign_active={REGION: foreign or set()},
        clock=lambda: clock[0],
        sleep=sleep,
    ).run()
    return runs, backend, clock[0]


DURATIONS = {
    ("ami-1", "VHD"): 30,
    ("ami-1", "VMDK"): 40,
    ("ami-2", "VHD"): 20,
    ("ami-2", "VMDK"): 20,
    ("ami-3", "VHD"): 10,
    ("ami-3", "VMDK"): 25,
}


def test_amis_run_in_parallel_formats_of_one_ami_in_sequence() -> None:
    runs, backend, elapsed = _schedule(DURATIONS, limit=5)
    assert all(r.phase is Phase.DONE for r in runs)
    assert not backend.overlap_per_ami
    assert backend.max_region == 3
    # longest chain is ami-1 (30 + 40 = 70 s); the sum is 145 s; polling adds < 1 interval per task
    assert 70 <= elapsed <= 73


def test_region_limit_is_respected() -> None:
    runs, backend, elapsed = _schedule(DURATIONS, limit=2)
    assert all(r.phase is Phase.DONE for r in runs)
    assert backend.max_region == 2
    assert not backend.overlap_per_ami
    assert elapsed < sum(DURATIONS.values())


def test_foreign_active_tasks_count_against_the_limit() -> None:
    runs, backend, _ = _schedule(
        {("ami-1", "VHD"): 5, ("ami-1", "VMDK"): 5, ("ami-2", "VHD"): 5, ("ami-2", "VMDK"): 5},
        limit=3,
        foreign={"foreign-1", "foreign-2"},
    )
    assert all(r.phase is Phase.DONE for r in runs)
    assert backend.max_region == 1  # 3 allowed - 2 held by another run
