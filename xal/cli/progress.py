"""Live progress displays on stderr for the library's long-running work (``--json`` on stdout stays parseable).

Each class implements the observer a library function reports to; on a terminal it shows a live
line or bars, otherwise plain lines, so CI logs stay readable.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from xal.console import err
from xal.export.scheduler import JobRun, Phase

if TYPE_CHECKING:
    from xal.ansible.runner import PlaybookState


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class CodeBuildProgress:
    """A CodeBuild build: a live status line on a terminal, else one line per phase."""

    def __init__(self, label: str = "release build") -> None:
        self.label = label
        self._status: Any = None
        self._last: tuple[str, str] | None = None
        self._started = time.monotonic()

    def __enter__(self) -> CodeBuildProgress:
        if err().is_terminal:
            self._status = err().status(f"{self.label}: starting")
            self._status.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._status is not None:
            self._status.stop()

    def update(self, build: dict[str, Any]) -> None:
        phase, status = str(build.get("currentPhase") or "SUBMITTED"), str(build.get("buildStatus"))
        done = sum(1 for p in build.get("phases") or [] if p.get("phaseStatus"))
        text = f"{self.label} {build.get('id')}: {status}, phase {phase} ({done} phases done)"
        if self._status is not None:
            self._status.update(f"{text}, {_duration(time.monotonic() - self._started)}")
        if (phase, status) == self._last:
            return
        self._last = (phase, status)
        err().print(f"{text} after {_duration(time.monotonic() - self._started)}", markup=False, highlight=False)


def activity(text: str) -> AbstractContextManager[object]:
    """A spinner with ``text`` on stderr while the work inside the context runs."""
    return err().status(text)


def notice(line: str) -> None:
    """A plain line on stderr (no rich markup, so names and URLs are shown as they are)."""
    err().print(line, markup=False, highlight=False)


class PackerBuildProgress:
    """A Packer build: one updating line (step or Ansible task) on a terminal; otherwise a line per
    step and per task ("task 14 of 96: ..."), so a CI log never sits silent for minutes."""

    def __init__(self) -> None:
        self._status: Any = None

    def __enter__(self) -> PackerBuildProgress:
        if err().is_terminal:
            self._status = err().status("starting Packer")
            self._status.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def step(self, line: str, elapsed: float) -> None:
        self._show(line, elapsed)

    def task(self, line: str, elapsed: float) -> None:
        self._show(line, elapsed)

    def _show(self, line: str, elapsed: float) -> None:
        text = f"[{elapsed:6.1f}s] {line}"
        if self._status is not None:
            self._status.update(text)
        else:
            err().print(text, markup=False, highlight=False)


class ExportProgress:
    """Export jobs: one bar per (AMI, format) on a terminal, else one plain line per state change."""

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


class PlaybookProgress:
    """An Ansible playbook run: one live line (task, counts) on a terminal, a line per task otherwise."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task_id: Any = None

    def started(self, state: PlaybookState) -> None:
        if err().is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("[green]ok={task.fields[ok]}[/] [yellow]changed={task.fields[changed]}[/]"),
                TextColumn("[red]failed={task.fields[failed]}[/] [dim]skipped={task.fields[skipped]}[/]"),
                TimeElapsedColumn(),
                console=err(),
                transient=True,
            )
            self._progress.start()
            self._task_id = self._progress.add_task(state.title, total=None, **state.counts)
        else:
            err().print(f"{state.title}: starting", markup=False, highlight=False)

    def task_started(self, state: PlaybookState) -> None:
        if self._progress is None:
            err().print(f"[{state.elapsed:6.1f}s] {state.task_text}", markup=False, highlight=False)

    def updated(self, state: PlaybookState) -> None:
        if self._progress is not None:
            from rich.markup import escape

            description = escape(f"{state.title} [{state.tasks}] {state.task_text}")
            self._progress.update(self._task_id, description=description, **state.counts)

    def finished(self, state: PlaybookState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        summary = " ".join(f"{k}={v}" for k, v in state.counts.items())
        err().print(f"{state.title}: {summary} ({state.elapsed:.1f} s)", markup=False, highlight=False)


class BootTestProgress:
    """The first-boot spec: a spinner with the running check on a terminal, one line per finished
    check always (that list is the boot test's summary); for QEMU machines also a line per boot
    stage reached (firmware, kernel, systemd target, sshd, JupyterLab) with its elapsed time."""

    def __init__(self) -> None:
        self._status: Any = None
        self._marks = {"passed": "PASS", "failed": "FAIL", "not run": "SKIP"}

    def check_started(self, name: str, title: str) -> None:
        if err().is_terminal:
            self._status = self._status or err().status("")
            self._status.update(f"boot test: {name} ({title})")
            self._status.start()

    def check_finished(self, result: Any) -> None:
        if self._status is not None:
            self._status.stop()
        mark = self._marks[str(result.outcome)]
        err().print(
            f"boot test {mark} {result.name} ({result.seconds:.1f} s): {result.detail}", markup=False, highlight=False
        )

    def stage(self, vm: str, stage: str, seconds: float) -> None:
        err().print(f"boot {vm}: {stage} after {seconds:.1f} s", markup=False, highlight=False)


class ReleaseProgress:
    """The release graph: on a terminal one live line per running step with its elapsed time and
    progress (the build's "task 14 of 96: ..."), a printed line when a step ends; otherwise a plain
    line per change, so CI logs show every step, task and outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, tuple[float, str]] = {}  # step -> (started, note)
        self._live: Any = None
        self._last: dict[str, tuple[str, str]] = {}
        self._t0 = time.monotonic()

    def __enter__(self) -> ReleaseProgress:
        if err().is_terminal:
            from rich.live import Live

            self._live = Live(self, console=err(), refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __rich__(self) -> Any:
        from rich.text import Text

        now = time.monotonic()
        with self._lock:
            rows = [
                f"  {name:22s} {_duration(now - started):>8s}  {note}"
                for name, (started, note) in self._running.items()
            ]
        return Text("\n".join(rows) or "  waiting")

    def changed(self, record: Any) -> None:
        name, outcome, note = record.name, record.outcome.value, record.note
        with self._lock:
            if outcome == "running":
                started = self._running.get(name, (time.monotonic(), ""))[0]
                self._running[name] = (started, note)
            else:
                self._running.pop(name, None)
            if self._last.get(name) == (outcome, note):
                return
            self._last[name] = (outcome, note)
        if self._live is not None and outcome == "running":
            return  # the live lines show it
        if outcome in ("pending",):
            return
        detail = f": {record.error}" if record.error else (f": {note}" if note else "")
        seconds = f" after {_duration(record.seconds)}" if record.seconds else ""
        line = f"[{_duration(time.monotonic() - self._t0):>8s}] {name} {outcome}{seconds}{detail}"
        err().print(line, markup=False, highlight=False)

    def left_behind(self, inventory: Any) -> None:
        from xal.cli.asset_tables import print_table

        if not inventory.resources:
            err().print(f"no AWS assets of {inventory.pattern} were left behind", highlight=False)
            return
        print_table(inventory, err())
        err().print(
            "There were errors; these assets are kept (a re-run continues where this one stopped). "
            f"To delete them: xal cleanup --asset-id {inventory.pattern}",
            markup=False,
            highlight=False,
        )
