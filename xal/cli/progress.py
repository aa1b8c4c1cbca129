"""Live progress displays on stderr for the library's long-running work (``--json`` on stdout stays parseable).

Each class implements the observer a library function reports to; on a terminal it shows a live
line or bars, otherwise plain lines, so CI logs stay readable.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from xal.console import err


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


def notice(line: str) -> None:
    """A plain line on stderr (no rich markup, so names and URLs are shown as they are)."""
    err().print(line, markup=False, highlight=False)


class PackerBuildProgress:
    """A Packer build: one updating line (step or Ansible task) on a terminal, a line per step otherwise."""

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
        self._show(line, elapsed, new_line=True)

    def task(self, line: str, elapsed: float) -> None:
        self._show(line, elapsed, new_line=False)

    def _show(self, line: str, elapsed: float, new_line: bool) -> None:
        text = f"[{elapsed:6.1f}s] {line}"
        if self._status is not None:
            self._status.update(text)
        elif new_line:
            err().print(text, markup=False, highlight=False)
