"""The change-set flow on stderr: the plan as a table, stack events as coloured lines, a status
line while waiting (on a terminal), and the outcome."""

from __future__ import annotations

from typing import Any

from xal.console import err
from xal.deploy.changeset import DeployResult, Plan, resource_of

SYMBOLS = {"Add": ("+", "green"), "Modify": ("~", "yellow"), "Remove": ("-", "red")}


class ChangeSetDisplay:
    """The CLI's DeployObserver."""

    def __init__(self) -> None:
        self._status: Any = None

    def plan(self, plan: Plan) -> None:
        """+ added, ~ modified (with replacement), - removed."""
        from rich.table import Table

        table = Table(
            "", "resource", "type", "replacement", "changed properties", title=plan.summary(), title_justify="left"
        )
        for change in plan.changes:
            symbol, style = SYMBOLS.get(change.action, ("?", "white"))
            replacement = {"True": "[red]yes[/]", "Conditional": "[yellow]maybe[/]", "False": "no"}.get(
                str(change.replacement), ""
            )
            table.add_row(
                f"[{style}]{symbol}[/]",
                change.logical_id,
                change.resource_type,
                replacement,
                ", ".join(change.properties),
            )
        err().print(table)

    def event(self, event: dict[str, Any]) -> None:
        status = str(event.get("ResourceStatus", ""))
        style = "red" if "FAILED" in status or "ROLLBACK" in status else "green" if "COMPLETE" in status else "cyan"
        stamp = event.get("Timestamp")
        when = stamp.strftime("%H:%M:%S") if hasattr(stamp, "strftime") else ""
        err().print(f"  {when} [{style}]{status}[/] {resource_of(event)}", highlight=False)
        reason = event.get("ResourceStatusReason")
        if reason and "FAILED" in status:
            err().print(f"      {reason}", highlight=False, markup=False)

    def replacing_failed(self, stack: str, status: str) -> None:
        err().print(f"[yellow]{stack} is {status}: deleting it (--replace-failed)[/]")

    def waiting(self, stack: str, status: str | None, seconds: int) -> None:
        if status is None:
            if err().is_terminal:
                self._status = err().status(f"waiting for {stack}")
                self._status.start()
        elif self._status is not None:
            self._status.update(f"{stack}: {status} ({seconds} s)")

    def settled(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def outcome(self, result: DeployResult) -> None:
        if result.outcome == "unchanged":
            err().print(f"{result.stack_name} ({result.region}) is up to date: no changes")
        elif result.outcome == "cancelled":
            err().print("cancelled; nothing was changed")
        else:
            err().print(f"[green]{result.stack_name} {result.outcome}[/] ({result.region})")
