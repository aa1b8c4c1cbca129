"""The outcome of a first-boot test: one line per check, and the error that names the failed ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from xal.errors import XalError
from xal.secrets import redact


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not run"  # needs what an earlier failed check should have given (a login)


@dataclass(frozen=True)
class CheckResult:
    name: str
    title: str
    outcome: Outcome
    detail: str
    seconds: float


@dataclass
class BootReport:
    """The spec's results for one booted machine (``target``: container, instance or disk image)."""

    target: str
    results: list[CheckResult] = field(default_factory=list)
    boot_seconds: float | None = None  # start of the machine until its SSH answered
    stages: dict[str, float] = field(default_factory=dict)  # a VM's boot stages: seconds after its start

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome is not Outcome.PASSED]

    @property
    def passed(self) -> bool:
        return bool(self.results) and not self.failed

    @property
    def seconds(self) -> float:
        return round(sum(r.seconds for r in self.results), 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "passed": self.passed,
            "boot_seconds": self.boot_seconds,
            "stages": self.stages,
            "seconds": self.seconds,
            "checks": [{**asdict(r), "outcome": r.outcome.value} for r in self.results],
        }


class BootObserver(Protocol):
    """Told about each check as it runs (the CLI prints a line per check)."""

    def check_started(self, name: str, title: str) -> None: ...

    def check_finished(self, result: CheckResult) -> None: ...


class QuietBootObserver:
    def check_started(self, name: str, title: str) -> None:
        pass

    def check_finished(self, result: CheckResult) -> None:
        pass


class BootTestFailed(XalError):
    """The machine booted from the image is not what its users must meet; names each failed check."""

    def __init__(self, report: BootReport) -> None:
        self.report = report
        failed = "; ".join(f"{r.name}: {r.detail}" for r in report.failed if r.outcome is Outcome.FAILED)
        super().__init__(redact(f"first-boot test of {report.target} failed: {failed}"))
