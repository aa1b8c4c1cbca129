"""Progress of a CodeBuild build on stderr: a live status line on a terminal, else one line per phase."""

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


class BuildProgress:
    def __init__(self, label: str = "release build") -> None:
        self.label = label
        self._status: Any = None
        self._last: tuple[str, str] | None = None
        self._started = time.monotonic()

    def __enter__(self) -> BuildProgress:
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
