"""Stand-ins several unit test packages share."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock and its sleep: sleeping advances the time at once and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds
