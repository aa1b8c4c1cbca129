"""StepRunner: completed steps are undone newest first, and a failed undo never skips the others."""

from __future__ import annotations

import pytest

from xal.aws.steps import Step, StepRunner


def recording_step(label: str, resource_id: str, log: list[str], undo_error: Exception | None = None) -> Step:
    def run() -> str:
        log.append(f"create {label} {resource_id}")
        return resource_id

    def undo(created: str) -> None:
        log.append(f"undo {label} {created}")
        if undo_error is not None:
            raise undo_error

    return Step(label, run, undo)


def test_completed_steps_are_undone_in_reverse_order() -> None:
    log: list[str] = []
    runner = StepRunner()
    for label, ident in (("key pair", "k-1"), ("security group", "sg-1"), ("instance", "i-1")):
        assert runner.run(recording_step(label, ident, log)) == ident
    assert runner.undo() == []
    assert log[3:] == ["undo instance i-1", "undo security group sg-1", "undo key pair k-1"]
    assert runner.undo() == [] and len(log) == 6  # undone once only


def test_a_failing_step_is_not_undone_but_the_earlier_ones_are() -> None:
    log: list[str] = []
    runner = StepRunner()
    runner.run(recording_step("key pair", "k-1", log))

    def no_capacity() -> str:
        raise RuntimeError("InsufficientInstanceCapacity")

    with pytest.raises(RuntimeError):
        runner.run(Step("instance", no_capacity, lambda _: log.append("undo instance")))
    assert runner.undo() == []
    assert log == ["create key pair k-1", "undo key pair k-1"]


def test_an_undo_failure_names_its_resource_and_the_other_undos_still_run() -> None:
    log: list[str] = []
    runner = StepRunner()
    runner.run(recording_step("key pair", "k-1", log, undo_error=RuntimeError("AccessDenied")))
    runner.run(recording_step("security group", "sg-123", log, undo_error=RuntimeError("DependencyViolation")))
    runner.run(recording_step("instance", "i-1", log))
    failures = runner.undo()
    assert log[3:] == ["undo instance i-1", "undo security group sg-123", "undo key pair k-1"]
    assert [str(f) for f in failures] == ["security group sg-123: DependencyViolation", "key pair k-1: AccessDenied"]
    assert failures[0].resource_id == "sg-123" and failures[0].step.label == "security group"
