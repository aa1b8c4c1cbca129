"""Run a release as one dependency graph: every step starts as soon as the steps it needs are done.

A release is mostly waiting - Packer on the build instance, EC2 on export tasks and region copies,
Docker on a registry - and most of it is independent. The graph runs each step in its own thread
once its ``needs`` have succeeded, so the wall time approaches the critical path instead of the sum.

Each step's record (start, end, outcome, outputs, error) goes into the release manifest as soon as
it changes, so a killed run leaves an accurate account. A re-run skips a step whose earlier record
says it succeeded and whose ``done`` check (the manifest's outputs against AWS) agrees; everything
else runs again - the steps themselves resume (exports adopt running tasks, copies are reused).

When a step fails, the graph sets ``stop``: no further step starts, running steps are told to stop
(Packer gets SIGINT and runs its cleanup, the export scheduler stops waiting and leaves its tasks
running for a re-run), and the run ends with one :class:`ReleaseFailed` naming what failed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from xal.aws.errors import describe_error
from xal.errors import ExitCode, XalError

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REUSED = "reused"  # done by an earlier run, confirmed; not run again
    FAILED = "failed"
    STOPPED = "stopped"  # was running when another step failed; left resumable
    SKIPPED = "skipped"  # never started: a step it needs failed, or the run stopped

    @property
    def ok(self) -> bool:
        return self in (Outcome.SUCCEEDED, Outcome.REUSED)


@dataclass
class StepContext:
    """What a running step gets: the outputs of the steps it needs, the stop signal, a progress line."""

    name: str
    inputs: dict[str, dict[str, Any]]
    stop: threading.Event
    report: Callable[[str], None]

    def output(self, step: str, key: str) -> Any:
        return self.inputs[step][key]


@dataclass(frozen=True)
class Step:
    """One unit of the release. ``run`` returns its outputs (JSON-able); ``done(outputs)`` says
    whether what an earlier run recorded still exists (default: trust the record)."""

    name: str
    run: Callable[[StepContext], dict[str, Any]]
    needs: tuple[str, ...] = ()
    done: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class StepRecord:
    name: str
    needs: list[str]
    outcome: Outcome = Outcome.PENDING
    started: float | None = None  # epoch seconds
    ended: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    note: str = ""  # the latest progress line while it runs

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return round(self.ended - self.started, 2)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["seconds"] = self.seconds
        data.pop("note")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        return cls(
            name=str(data["name"]),
            needs=list(data.get("needs") or []),
            outcome=Outcome(data.get("outcome", Outcome.PENDING)),
            started=data.get("started"),
            ended=data.get("ended"),
            outputs=dict(data.get("outputs") or {}),
            error=data.get("error"),
        )


class GraphObserver(Protocol):
    """Told about every change of a step (started, progress, ended); called from the graph's threads."""

    def changed(self, record: StepRecord) -> None: ...


class _Quiet:
    def changed(self, record: StepRecord) -> None:
        pass


@dataclass
class RunRecord:
    """The release manifest: what this release run (and the runs before it) did, step by step."""

    asset_id: str
    steps: dict[str, StepRecord] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    ended: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "started": self.started,
            "ended": self.ended,
            "steps": [s.to_dict() for s in self.steps.values()],
            "extra": self.extra,
        }

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        data = json.loads(path.read_text())
        steps = [StepRecord.from_dict(s) for s in data.get("steps", [])]
        return cls(
            asset_id=str(data["asset_id"]),
            steps={s.name: s for s in steps},
            started=float(data.get("started") or time.time()),
            ended=data.get("ended"),
            extra=dict(data.get("extra") or {}),
        )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        tmp.replace(path)
        return path


class ReleaseFailed(XalError):
    """One or more steps failed (or the run was interrupted); ``record`` says what exists."""

    def __init__(self, message: str, record: RunRecord, exit_code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message, exit_code)
        self.record = record


def check_graph(steps: list[Step]) -> None:
    """Unique names, known needs, no cycle: a broken graph is a programming error, found before anything runs."""
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate step names in {names}")
    known = set(names)
    for step in steps:
        unknown = set(step.needs) - known
        if unknown:
            raise ValueError(f"step {step.name} needs unknown step(s) {sorted(unknown)}")
    done: set[str] = set()
    pending = list(steps)
    while pending:
        ready = [s for s in pending if set(s.needs) <= done]
        if not ready:
            raise ValueError(f"steps {[s.name for s in pending]} depend on each other in a cycle")
        done |= {s.name for s in ready}
        pending = [s for s in pending if s not in ready]


class Graph:
    """Runs ``steps`` (see the module docs); ``path`` is the release manifest it keeps up to date."""

    def __init__(
        self,
        steps: list[Step],
        record: RunRecord,
        path: Path,
        observer: GraphObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_graph(steps)
        self.steps = {s.name: s for s in steps}
        self.record = record
        self.path = path
        self.observer = observer or _Quiet()
        self.clock = clock
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _save(self, record: StepRecord) -> None:
        with self._lock:
            self.record.write(self.path)
        self.observer.changed(record)

    def _reusable(self, step: Step, earlier: StepRecord | None) -> bool:
        if earlier is None or not earlier.outcome.ok:
            return False
        if step.done is None:
            return True
        try:
            return step.done(earlier.outputs)
        except Exception as exc:  # cannot confirm: run it again (every step resumes what exists)
            log.info("cannot confirm step %s from its record (%s); running it again", step.name, describe_error(exc))
            return False

    def run(self) -> RunRecord:
        """Run every step not already done; returns the record, or raises ReleaseFailed."""
        earlier = dict(self.record.steps)
        self.record.steps = {}
        self.record.started, self.record.ended = self.clock(), None
        for name, step in self.steps.items():
            previous = earlier.get(name)
            current = StepRecord(name, list(step.needs))
            if self._reusable(step, previous):
                assert previous is not None
                current.outcome, current.outputs = Outcome.REUSED, previous.outputs
                current.started = current.ended = self.record.started
            self.record.steps[name] = current
        self.record.write(self.path)
        for current in self.record.steps.values():
            self.observer.changed(current)
        interrupted = False
        with ThreadPoolExecutor(max_workers=max(1, len(self.steps)), thread_name_prefix="xal-step") as pool:
            running: dict[Future[dict[str, Any]], str] = {}
            try:
                while True:
                    if not self.stop.is_set():
                        for name in self._ready(running.values()):
                            running[self._start(pool, name)] = name
                    if not running:
                        break
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        self._finish(running.pop(future), future)
            except KeyboardInterrupt:
                interrupted = True
                self.stop.set()
                for future, name in running.items():  # the steps see stop and wind down (Packer cleans up)
                    self._finish(name, future)
        self._skip_rest()
        self.record.ended = self.clock()
        self.record.write(self.path)
        return self._result(interrupted)

    def _ready(self, running: Any) -> list[str]:
        busy = set(running)
        steps = self.record.steps
        return [
            name
            for name, rec in steps.items()
            if rec.outcome is Outcome.PENDING
            and name not in busy
            and all(steps[n].outcome.ok for n in self.steps[name].needs)
        ]

    def _start(self, pool: ThreadPoolExecutor, name: str) -> Future[dict[str, Any]]:
        rec = self.record.steps[name]
        rec.outcome, rec.started = Outcome.RUNNING, self.clock()
        self._save(rec)
        inputs = {n: self.record.steps[n].outputs for n in self.steps[name].needs}

        def report(line: str) -> None:
            rec.note = line
            self.observer.changed(rec)

        context = StepContext(name, inputs, self.stop, report)
        return pool.submit(self.steps[name].run, context)

    def _finish(self, name: str, future: Future[dict[str, Any]]) -> None:
        """Record how a step ended (waits for it: after a Ctrl-C, until it has wound down)."""
        rec = self.record.steps[name]
        try:
            outputs = future.result()
        except KeyboardInterrupt:
            rec.outcome, rec.error = Outcome.STOPPED, "interrupted"
        except Exception as exc:
            stopped = self.stop.is_set() and rec.outcome is Outcome.RUNNING
            rec.outcome = Outcome.STOPPED if stopped else Outcome.FAILED
            rec.error = str(exc) if isinstance(exc, XalError) else describe_error(exc)
            if rec.outcome is Outcome.FAILED:
                log.warning("step %s failed: %s", name, rec.error)
                self.stop.set()  # the other branches wind down; what exists stays resumable
        else:
            rec.outcome, rec.outputs = Outcome.SUCCEEDED, outputs or {}
        rec.ended, rec.note = self.clock(), ""
        self._save(rec)

    def _skip_rest(self) -> None:
        for rec in self.record.steps.values():
            if rec.outcome is Outcome.PENDING:
                failed = [n for n in self.steps[rec.name].needs if not self.record.steps[n].outcome.ok]
                rec.outcome = Outcome.SKIPPED
                rec.error = f"not started: {', '.join(failed)} did not succeed" if failed else "not started: stopped"
                self._save(rec)

    def _result(self, interrupted: bool) -> RunRecord:
        failed = [r for r in self.record.steps.values() if r.outcome is Outcome.FAILED]
        if interrupted:
            raise ReleaseFailed("release interrupted; re-run to continue", self.record, ExitCode.INTERRUPTED)
        if failed:
            lines = "; ".join(f"{r.name}: {r.error}" for r in failed)
            raise ReleaseFailed(f"{len(failed)} release step(s) failed: {lines}; re-run to continue", self.record)
        return self.record
