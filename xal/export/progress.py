"""Rich progress bars for export jobs: one bar per (AMI, format), fed by the task's Progress and
StatusMessage; on stderr, so ``--json`` output on stdout stays parseable. Without a terminal
each state change is one plain line instead."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from xal.console import err
from xal.export.scheduler import JobRun, Phase


class ExportProgress:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bars: dict[int, Any] = {}
        self._last: dict[int, tuple[Phase, str]] = {}
        self._progress: Any = None

    def __enter__(self) -> ExportProgress:
        if err().is_terminal:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=err(),
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, run: JobRun) -> None:
        status = {
            Phase.PENDING: "waiting for a free export slot",
            Phase.ACTIVE: run.message or "active",
            Phase.FINISHING: "renaming in S3",
            Phase.DONE: "resumed: already exported" if run.resumed and run.task_id is None else "done",
            Phase.FAILED: f"failed: {run.error}",
        }[run.phase]
        if run.phase is Phase.ACTIVE and run.task_id:
            status = f"{run.task_id}: {status}"
        with self._lock:
            key = id(run)
            if self._progress is None:
                if self._last.get(key) != (run.phase, status):
                    self._last[key] = (run.phase, status)
                    pct = f" {run.progress}%" if run.progress is not None and run.phase is Phase.ACTIVE else ""
                    err().print(f"export {run.job.label}:{pct} {status}", markup=False, highlight=False)
                return
            if key not in self._bars:
                self._bars[key] = self._progress.add_task(run.job.label, total=100, status="")
            done = 100 if run.phase in (Phase.DONE, Phase.FINISHING) else (run.progress or 0)
            self._progress.update(self._bars[key], completed=done, status=status)
