"""Live progress of a Packer build: the current Packer step and Ansible task, timed.

Every event also goes to a log file (secrets masked) so a failed build can be read in full
afterwards; the console shows one updating line on a terminal, plain step lines otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from xal.console import err
from xal.packer.machine_readable import PackerEvent, ansible_task_of, step_of
from xal.secrets import redact


@dataclass
class Step:
    source: str
    name: str
    started: float
    seconds: float | None = None


@dataclass
class BuildProgress:
    log_path: Path
    steps: list[Step] = field(default_factory=list)
    task: str | None = None
    tasks_done: int = 0
    _log: IO[str] | None = None
    _status: Any = None
    _t0: float = field(default_factory=time.monotonic)

    def __enter__(self) -> BuildProgress:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        if err().is_terminal:
            self._status = err().status("starting Packer")
            self._status.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._close_step()
        if self._status is not None:
            self._status.stop()
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
        if (step := step_of(text)) is not None:
            self._close_step()
            self.steps.append(Step(step[0], step[1], round(time.monotonic() - self._t0, 2)))
            self.task = None
            self._show(f"{step[0]}: {step[1]}", new_line=True)
        elif (task := ansible_task_of(text)) is not None:
            self.task = task
            self.tasks_done += 1
            current = self.steps[-1] if self.steps else None
            prefix = f"{current.source}: " if current else ""
            self._show(f"{prefix}ansible task {self.tasks_done}: {task}", new_line=False)

    def _show(self, line: str, new_line: bool) -> None:
        elapsed = f"[{time.monotonic() - self._t0:6.1f}s]"
        if self._status is not None:
            self._status.update(f"{elapsed} {redact(line)}")
        elif new_line:
            err().print(f"{elapsed} {redact(line)}", markup=False, highlight=False)

    def step_table(self) -> list[dict[str, Any]]:
        return [{"source": s.source, "step": s.name, "start": s.started, "seconds": s.seconds} for s in self.steps]
