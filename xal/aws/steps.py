"""Side effects as steps with their own undo, so a partial run is always cleaned up the same way.

In the spirit of packer-plugin-amazon's steps (``step_key_pair.go``, ``step_security_group.go``,
each with a ``Cleanup``): a ``Step`` creates one resource and knows how to remove it again. The
``StepRunner`` runs steps one at a time and remembers those that completed; ``undo`` removes
exactly those, newest first (an instance holds its security group and key pair), and goes on
past a failed undo, so one stuck resource never leaves the others behind. Every failure names
its resource, for the user to delete by hand.

The caller decides when to undo - on an error, or after a normal end - by calling ``undo`` in a
``finally``; a step that raises counts as not completed, so it must not leave anything behind
(split a create-then-configure into a step and a plain call after it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """``run()`` creates the resource and returns its id; ``undo(id)`` removes it again."""

    label: str  # what it creates, as reports name it: "security group"
    run: Callable[[], str]
    undo: Callable[[str], None]


@dataclass(frozen=True)
class UndoFailure:
    step: Step
    resource_id: str
    error: Exception

    def __str__(self) -> str:
        return f"{self.step.label} {self.resource_id}: {self.error}"


class StepRunner:
    def __init__(self) -> None:
        self.completed: list[tuple[Step, str]] = []

    def run(self, step: Step) -> str:
        """Run one step; once it returns, its resource is undone by ``undo``."""
        resource_id = step.run()
        self.completed.append((step, resource_id))
        return resource_id

    def undo(self) -> list[UndoFailure]:
        """Undo the completed steps newest first; returns the failed undos (every other one ran)."""
        failures: list[UndoFailure] = []
        while self.completed:
            step, resource_id = self.completed.pop()
            try:
                step.undo(resource_id)
            except Exception as exc:  # reported, and the older steps are still undone
                failures.append(UndoFailure(step, resource_id, exc))
        return failures
