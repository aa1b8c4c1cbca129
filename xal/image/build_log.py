"""What a Packer build records while it runs: every UI line in a log file, the timed steps, the
current Ansible task.

Every event goes to the log file (secrets masked) so a failed build can be read in full
afterwards; the steps end up in the build manifest. Showing the build live is not done here: a
:class:`PackerObserver` (the CLI's display) is told of each step and task, already masked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from xal.packer.machine_readable import PackerEvent, ProvisionerOutput, ansible_task_of
from xal.secrets import redact


class PackerObserver(Protocol):
    """Told about a running build; entered while Packer runs, so a live display starts and stops with it.

    ``elapsed`` is in seconds since the build log was opened; ``line`` has its secrets masked.
    """

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None: ...

    def step(self, line: str, elapsed: float) -> None: ...

    def task(self, line: str, elapsed: float) -> None: ...


class QuietPackerObserver:
    """The library default: the log file and the manifest's steps are the record; nothing is shown."""

    def __enter__(self) -> QuietPackerObserver:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        pass

    def step(self, line: str, elapsed: float) -> None:
        pass

    def task(self, line: str, elapsed: float) -> None:
        pass


@dataclass
class Step:
    source: str
    name: str
    started: float
    seconds: float | None = None


@dataclass
class BuildLog:
    log_path: Path
    observer: PackerObserver = field(default_factory=QuietPackerObserver)
    steps: list[Step] = field(default_factory=list)
    task: str | None = None
    tasks_done: int = 0
    tasks_total: int | None = None  # from the playbook's task list (xal.ansible.listing); None: unknown
    _log: IO[str] | None = None
    _output: ProvisionerOutput = field(default_factory=ProvisionerOutput)
    _t0: float = field(default_factory=time.monotonic)

    def __enter__(self) -> BuildLog:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.observer.__enter__()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._close_step()
        self.observer.__exit__(*exc)
        if self._log is not None:
            self._log.close()

    def _close_step(self) -> None:
        if self.steps and self.steps[-1].seconds is None:
            self.steps[-1].seconds = round(time.monotonic() - self._t0 - self.steps[-1].started, 2)

    def __call__(self, event: PackerEvent) -> None:
        text = event.ui_message
        if text is None:
            return
        assert self._log is not None
        self._log.write(redact(text) + "\n")
        self._log.flush()
        if (step := self._output.step(text)) is not None:
            self._close_step()
            self.steps.append(Step(step[0], step[1], round(time.monotonic() - self._t0, 2)))
            self.task = None
            self.observer.step(redact(f"{step[0]}: {step[1]}"), time.monotonic() - self._t0)
        elif (task := ansible_task_of(text)) is not None:
            self.task = task
            self.tasks_done += 1
            current = self.steps[-1] if self.steps else None
            prefix = f"{current.source}: " if current else ""
            self.observer.task(redact(f"{prefix}{self.task_counter()}: {task}"), time.monotonic() - self._t0)

    def task_counter(self) -> str:
        """``task 14 of 96`` (the total is an estimate: never shown below the count)."""
        if self.tasks_total is None:
            return f"task {self.tasks_done}"
        return f"task {self.tasks_done} of {max(self.tasks_total, self.tasks_done)}"

    def step_table(self) -> list[dict[str, Any]]:
        return [{"source": s.source, "step": s.name, "start": s.started, "seconds": s.seconds} for s in self.steps]
