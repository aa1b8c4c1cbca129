"""Run many export jobs concurrently within AWS's limits.

Limits (AWS VM Import/Export): one active export task per AMI (a job's ``export_ami``: the release
AMI or one of its siblings, see ``siblings``), at most N (default 5) active tasks
per region, counting tasks of other runs that are already active there. Within those limits the
scheduler starts what it can, so exporting 3 AMIs x 2 formats takes about as long as the longest
per-AMI chain, not the sum. Jobs of the AMI with the most work left start first.

The loop is single-threaded and drives everything through an ``ExportBackend`` (start, describe,
finish); only ``finish`` (the S3 rename, minutes for a large image) runs in worker threads, so
polling goes on while files are copied. Clock and sleep are injectable: unit tests run the state
machine on a fake clock, with botocore's Stubber behind the backend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from xal import defaults
from xal.aws.errors import describe_error, error_code
from xal.export.tasks import LIMIT_CODES, THROTTLING_CODES, Backoff, ExportJob, PollPolicy, TaskState

log = logging.getLogger(__name__)


class Phase(StrEnum):
    PENDING = "pending"  # no task yet
    ACTIVE = "active"  # export task running in AWS
    FINISHING = "finishing"  # task completed; the result is being renamed in S3
    DONE = "done"
    FAILED = "failed"


@dataclass
class JobRun:
    """The mutable state of one job while the scheduler runs it."""

    job: ExportJob
    phase: Phase = Phase.PENDING
    attempt: int = 0
    task_id: str | None = None
    progress: int | None = None
    message: str = ""
    active_since: float | None = None
    result: Any = None
    error: str | None = None
    resumed: bool = False

    @property
    def open(self) -> bool:
        return self.phase in (Phase.PENDING, Phase.ACTIVE, Phase.FINISHING)


class ExportBackend(Protocol):
    def start(self, run: JobRun) -> TaskState: ...

    def describe(self, region: str, task_ids: list[str]) -> dict[str, TaskState]: ...

    def finish(self, run: JobRun, state: TaskState) -> Any: ...


class Observer(Protocol):
    def update(self, run: JobRun) -> None: ...


class _Quiet:
    def update(self, run: JobRun) -> None:
        pass


class ExportScheduler:
    def __init__(
        self,
        backend: ExportBackend,
        runs: list[JobRun],
        *,
        max_active_per_region: int = defaults.MAX_ACTIVE_EXPORTS_PER_REGION,
        policy: PollPolicy | None = None,
        foreign_active: dict[str, set[str]] | None = None,
        observer: Observer | None = None,
        finish_workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if max_active_per_region < 1:
            raise ValueError("max_active_per_region must be at least 1")
        self.backend = backend
        self.runs = runs
        self.max_active = max_active_per_region
        self.policy = policy or PollPolicy()
        # active tasks in the region that are not ours: they count against the limit until they end
        self.foreign = {region: set(ids) for region, ids in (foreign_active or {}).items()}
        self.observer = observer or _Quiet()
        self.workers = finish_workers
        self.clock = clock
        self.backoff: dict[str, Backoff] = {}
        self.next_poll: dict[str, float] = {}
        self.hold_starts: dict[str, float] = {}  # region -> no start before this time (throttled/limit)
        self.limit: dict[str, int] = {}  # region -> current start budget (lowered on ResourceLimitExceeded)
        self.calls: Counter[str] = Counter()
        # set by another thread (a failed branch of the release): no new task starts, active tasks
        # keep running in AWS and a re-run resumes them
        self.stop = stop or threading.Event()
        self.sleep = sleep or self.stop.wait  # waiting ends early when told to stop
        self._futures: dict[Future[Any], JobRun] = {}

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> list[JobRun]:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="xal-finish") as pool:
            self._pool = pool
            for run in self.runs:
                self.observer.update(run)
                if run.phase is Phase.ACTIVE:
                    run.active_since = self.clock()
                    self._poll_soon(run.job.region)
            for run in [r for r in self.runs if r.phase is Phase.FINISHING and r.result is None]:
                self._submit_finish(run, None)
            while any(r.open for r in self.runs) and not self.stop.is_set():
                self._collect_finished()
                self._start_eligible()
                self._poll_due()
                self._check_timeouts()
                if any(r.open for r in self.runs):
                    self._wait()
            if self.stop.is_set():
                self._stopped()
        return self.runs

    def _stopped(self) -> None:
        """Told to stop: renames already running finish; tasks in AWS are left running (resumable)."""
        wait(list(self._futures))
        self._collect_finished()
        for run in self.runs:
            if run.phase is Phase.PENDING:
                self._fail(run, "not started: the run was stopped")
            elif run.phase is Phase.ACTIVE:
                self._fail(run, f"stopped waiting; export task {run.task_id} keeps running, a re-run resumes it")

    # -- starting --------------------------------------------------------------------------------------
    def _active_count(self, region: str) -> int:
        ours = sum(1 for r in self.runs if r.phase is Phase.ACTIVE and r.job.region == region)
        return ours + len(self.foreign.get(region, ()))

    def _start_eligible(self) -> None:
        now = self.clock()
        busy_amis = {(r.job.region, r.job.export_ami) for r in self.runs if r.phase is Phase.ACTIVE}
        left = Counter((r.job.region, r.job.export_ami) for r in self.runs if r.phase is Phase.PENDING)
        pending = sorted(
            (r for r in self.runs if r.phase is Phase.PENDING),
            key=lambda r: -left[(r.job.region, r.job.export_ami)],
        )
        for run in pending:
            region, ami = run.job.region, run.job.export_ami
            if (region, ami) in busy_amis or self.hold_starts.get(region, 0) > now:
                continue
            if self._active_count(region) >= self.limit.get(region, self.max_active):
                continue
            self.calls["ExportImage"] += 1
            try:
                state = self.backend.start(run)
            except Exception as exc:
                code = error_code(exc)
                if code in THROTTLING_CODES or code in LIMIT_CODES:
                    # not now: wait for a poll interval; on the limit, only start when a task ends
                    delay = self._backoff(region).throttled()
                    self.hold_starts[region] = now + delay
                    if code in LIMIT_CODES:
                        self.limit[region] = max(1, self._active_count(region))
                    log.info("export of %s deferred (%s), retrying in %.0f s", run.job.label, code, delay)
                    continue
                self._fail(run, f"starting the export failed: {describe_error(exc)}")
                continue
            run.task_id = state.task_id
            run.phase = Phase.ACTIVE
            run.active_since = now
            run.progress, run.message = state.progress, state.message
            busy_amis.add((region, ami))
            self._backoff(region).reset()
            self._poll_soon(region)
            log.info("export task %s started for %s", state.task_id, run.job.label)
            self.observer.update(run)
            if not state.active:  # an idempotent retry can return a task that already ended
                self._apply(run, state)

    # -- polling -----------------------------------------------------------------------------------------
    def _backoff(self, region: str) -> Backoff:
        return self.backoff.setdefault(region, Backoff(self.policy))

    def _poll_soon(self, region: str) -> None:
        due = self.clock() + self._backoff(region).next()
        self.next_poll[region] = min(self.next_poll.get(region, due), due)

    def _poll_due(self) -> None:
        now = self.clock()
        regions = {r.job.region for r in self.runs if r.phase is Phase.ACTIVE} | {
            region for region, ids in self.foreign.items() if ids
        }
        for region in sorted(regions):
            if self.next_poll.get(region, now) > now:
                continue
            ours = {r.task_id: r for r in self.runs if r.phase is Phase.ACTIVE and r.job.region == region}
            ids = sorted({*ours, *self.foreign.get(region, set())} - {None})
            self.calls["DescribeExportImageTasks"] += 1
            try:
                states = self.backend.describe(region, ids)  # type: ignore[arg-type]
            except Exception as exc:
                if error_code(exc) in THROTTLING_CODES:
                    delay = self._backoff(region).throttled()
                    self.next_poll[region] = now + delay
                    log.info("polling %s throttled; next poll in %.0f s", region, delay)
                    continue
                raise
            self.next_poll[region] = now + self._backoff(region).next()
            for tid in list(self.foreign.get(region, ())):
                if tid not in states or not states[tid].active:
                    self.foreign[region].discard(tid)
                    self.limit.pop(region, None)
            for tid, run in ours.items():
                state = states.get(tid)  # type: ignore[arg-type]
                if state is None:
                    self._fail(run, f"export task {tid} disappeared")
                else:
                    self._apply(run, state)

    def _apply(self, run: JobRun, state: TaskState) -> None:
        if state.active:
            if (state.progress, state.message) != (run.progress, run.message):
                run.progress, run.message = state.progress, state.message
                self.observer.update(run)
            return
        self.limit.pop(run.job.region, None)  # a slot is free again
        if state.completed:
            run.progress, run.message = 100, "completed"
            self._submit_finish(run, state)
            return
        reason = state.message or "no status message"
        self._fail(run, f"export task {state.task_id} ended {state.status}: {reason}")

    def _check_timeouts(self) -> None:
        now = self.clock()
        for run in self.runs:
            timed_out = run.active_since is not None and now - run.active_since > self.policy.timeout
            if run.phase is Phase.ACTIVE and timed_out:
                self._fail(
                    run,
                    f"export task {run.task_id} still {run.message or 'active'} at {run.progress or 0}% after "
                    f"{self.policy.timeout:.0f} s; it keeps running in AWS, re-run the command to resume waiting",
                )

    # -- finishing (S3 rename) in worker threads -------------------------------------------------------
    def _submit_finish(self, run: JobRun, state: TaskState | None) -> None:
        run.phase = Phase.FINISHING
        run.message = "copying to final name"
        self.observer.update(run)
        self._futures[self._pool.submit(self.backend.finish, run, state)] = run  # type: ignore[arg-type]

    def _collect_finished(self) -> None:
        for future in [f for f in self._futures if f.done()]:
            run = self._futures.pop(future)
            exc = future.exception()
            if exc is not None:
                self._fail(run, f"renaming the exported file failed: {describe_error(exc)}")
                continue
            run.result = future.result()
            run.phase = Phase.DONE
            run.message = "done"
            run.progress = 100
            self.observer.update(run)

    def _wait(self) -> None:
        now = self.clock()
        wakeups = [t for region, t in self.next_poll.items() if self._region_busy(region)]
        wakeups += [t for t in self.hold_starts.values() if t > now]
        delay = max(0.0, min(wakeups) - now) if wakeups else 0.0
        if self._futures:
            wait(list(self._futures), timeout=min(delay, 1.0) if wakeups else 1.0, return_when=FIRST_COMPLETED)
        elif delay > 0:
            self.sleep(delay)
        elif not wakeups and not any(r.phase is Phase.ACTIVE for r in self.runs):
            # pending jobs blocked by nothing we can observe: avoid a busy loop
            self.sleep(self.policy.initial)

    def _region_busy(self, region: str) -> bool:
        return any(r.phase is Phase.ACTIVE and r.job.region == region for r in self.runs) or bool(
            self.foreign.get(region)
        )

    def _fail(self, run: JobRun, message: str) -> None:
        run.phase = Phase.FAILED
        run.error = message
        run.message = "failed"
        log.warning("%s: %s", run.job.label, message)
        self.observer.update(run)
