"""Create or update one CloudFormation stack through a change set.

The flow for every permanent stack: pick CREATE or UPDATE from the stack's state, create a
change set, show what it adds, modifies and removes, ask (unless told yes), execute, follow the
stack events until the stack settles, and return the outputs. A change set without changes is
"unchanged", not an error. A stack whose creation failed (ROLLBACK_COMPLETE) cannot be updated;
it is explained with its failure events and replaced only on request (``--replace-failed``).

Showing and asking are not done here: a :class:`DeployObserver` is told the plan, the events and
the outcome (by default they go to the log), and an :data:`Ask` confirms the change set (by
default nobody can, so without ``yes`` the change set is discarded with a UsageError that says
to re-run with --yes).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xal.aws.errors import error_message
from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import describe_stack
from xal.errors import UsageError, XalError

log = logging.getLogger(__name__)

TEMPLATE_BODY_LIMIT = 51_200  # bytes; larger templates would have to go through S3
# a stack in one of these never finished its first creation: it can only be deleted
FAILED_CREATION = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"}
UPDATABLE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
# texts of a change set (or of CreateChangeSet itself) that only says "nothing to do"
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
CONSEQUENTIAL = ("Resource creation cancelled", "Resource update cancelled", "cancelled")
STACK_TYPE = "AWS::CloudFormation::Stack"
STALE_STATUS_GRACE = 60.0  # seconds a pre-execution status is not trusted while no new stack event arrived

Ask = Callable[[str], bool]  # a yes/no question -> the answer
EventSink = Callable[[dict[str, Any]], None]
NO_ONE_TO_ASK = (
    "no terminal to confirm the change set on; it was discarded. Review the changes above and re-run with --yes"
)


@dataclass(frozen=True)
class StackSpec:
    """What to deploy: one template file with its parameter values, in one region."""

    name: str
    template: Path
    region: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...] = ("CAPABILITY_IAM",)

    def template_body(self) -> str:
        try:
            body = self.template.read_text()
        except FileNotFoundError:
            raise XalError(f"CloudFormation template {self.template} not found") from None
        if len(body.encode()) > TEMPLATE_BODY_LIMIT:
            raise XalError(f"template {self.template} exceeds {TEMPLATE_BODY_LIMIT} bytes (the inline limit)")
        return body


@dataclass(frozen=True)
class ResourceChange:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str | None = None  # True | False | Conditional (Modify only)
    properties: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "logical_id": self.logical_id,
            "resource_type": self.resource_type,
            "replacement": self.replacement,
            "properties": list(self.properties),
        }


@dataclass(frozen=True)
class Plan:
    """A created change set: what executing it would do."""

    stack_name: str
    region: str
    change_set_type: str  # CREATE | UPDATE
    change_set_name: str
    changes: tuple[ResourceChange, ...]

    def counts(self) -> dict[str, int]:
        out = {"Add": 0, "Modify": 0, "Remove": 0}
        for change in self.changes:
            out[change.action] = out.get(change.action, 0) + 1
        return out

    def summary(self) -> str:
        counts = self.counts()
        return (
            f"{'create' if self.change_set_type == 'CREATE' else 'update'} {self.stack_name} ({self.region}): "
            f"{counts['Add']} to add, {counts['Modify']} to modify, {counts['Remove']} to remove"
        )


@dataclass
class DeployResult:
    stack_name: str
    region: str
    outcome: str  # created | updated | unchanged | cancelled
    changes: tuple[ResourceChange, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack_name,
            "region": self.region,
            "outcome": self.outcome,
            "changes": [c.to_dict() for c in self.changes],
            "outputs": dict(sorted(self.outputs.items())),
        }


@dataclass(frozen=True)
class DeployOptions:
    """How to run the flow: confirmation, failed-stack replacement and polling."""

    yes: bool = False
    replace_failed: bool = False
    poll_seconds: float = 5.0
    timeout_minutes: float = 60.0


def no_one_to_ask(_question: str) -> bool:
    """The default :data:`Ask`: a library call has nobody to confirm with, so refuse (the change set
    is discarded and nothing changes)."""
    raise UsageError(NO_ONE_TO_ASK)


class DeployObserver(Protocol):
    """Told what the flow does: the plan before asking, each stack event, waiting, the outcome."""

    def plan(self, plan: Plan) -> None: ...

    def event(self, event: dict[str, Any]) -> None: ...

    def replacing_failed(self, stack: str, status: str) -> None: ...

    def waiting(self, stack: str, status: str | None, seconds: int) -> None:
        """``status`` None: waiting starts; then the stack's status while it is still in progress."""

    def settled(self) -> None: ...

    def outcome(self, result: DeployResult) -> None: ...


class LoggingDeployObserver:
    """The library default: plan, events and outcome go to the log (a deploy is worth a record)."""

    def plan(self, plan: Plan) -> None:
        log.info("%s", plan.summary())

    def event(self, event: dict[str, Any]) -> None:
        log.info("%s", event_line(event))

    def replacing_failed(self, stack: str, status: str) -> None:
        log.warning("%s is %s: deleting it (--replace-failed)", stack, status)

    def waiting(self, stack: str, status: str | None, seconds: int) -> None:
        pass

    def settled(self) -> None:
        pass

    def outcome(self, result: DeployResult) -> None:
        log.info("%s (%s): %s", result.stack_name, result.region, result.outcome)


def _is_no_change(text: str | None) -> bool:
    return bool(text) and any(marker in text for marker in NO_CHANGES)


def _changes(cfn: Any, stack: str, change_set: str, first: dict[str, Any]) -> tuple[ResourceChange, ...]:
    out: list[ResourceChange] = []
    page = first
    while True:
        for item in page.get("Changes", []):
            rc = item.get("ResourceChange", {})
            props = sorted(
                {
                    d["Target"]["Name"]
                    for d in rc.get("Details", [])
                    if d.get("Target", {}).get("Name") and d["Target"].get("Attribute") == "Properties"
                }
            )
            out.append(
                ResourceChange(
                    action=rc.get("Action", "?"),
                    logical_id=rc.get("LogicalResourceId", "?"),
                    resource_type=rc.get("ResourceType", "?"),
                    replacement=rc.get("Replacement"),
                    properties=tuple(props),
                )
            )
        token = page.get("NextToken")
        if not token:
            return tuple(out)
        page = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set, NextToken=token)


def _recent_events(cfn: Any, stack: str) -> Iterator[dict[str, Any]]:
    """Events of the stack's last operation, newest first (up to the 'User Initiated' that started it)."""
    paginator = cfn.get_paginator("describe_stack_events")
    for page in paginator.paginate(StackName=stack):
        for event in page.get("StackEvents", []):
            yield event
            if (
                event.get("LogicalResourceId") == stack
                and event.get("ResourceType") == STACK_TYPE
                and event.get("ResourceStatusReason") == "User Initiated"
            ):
                return


def failure_events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    """The failed resource events of the last operation, oldest first, root causes before their echoes."""
    failed = [e for e in _recent_events(cfn, stack) if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    failed.reverse()
    causes = [e for e in failed if not any(c in str(e.get("ResourceStatusReason", "")) for c in CONSEQUENTIAL)]
    return causes or failed


def resource_of(event: dict[str, Any]) -> str:
    """The resource a stack event is about: logical id and type."""
    return f"{event.get('LogicalResourceId', '?')} ({event.get('ResourceType', '?')})"


def event_line(event: dict[str, Any]) -> str:
    reason = event.get("ResourceStatusReason")
    line = f"{resource_of(event)}: {event.get('ResourceStatus', '?')}"
    return f"{line}: {reason}" if reason else line


def explain_failure(cfn: Any, stack: str, region: str, status: str) -> str:
    """A message that says what failed and how to get out of this state."""
    events = failure_events(cfn, stack)
    lines = [f"stack {stack} in {region} is {status}"]
    if events:
        lines.append("failed resources:")
        lines.extend(f"  {event_line(e)}" for e in events)
    else:
        lines.append("(no failure events recorded)")
    console = f"aws cloudformation describe-stack-events --stack-name {stack} --region {region}"
    if status in FAILED_CREATION:
        lines.append(
            "Its first creation failed and was rolled back, so it cannot be updated. Fix the cause above, then "
            "re-run with --replace-failed to delete the failed stack and create it again "
            "(resources kept by DeletionPolicy Retain, such as a created bucket, stay and can be deleted by hand)."
        )
    elif status == "UPDATE_ROLLBACK_COMPLETE":
        lines.append("The update was rolled back; the stack still works as before. Fix the cause above and re-run.")
    elif status == "UPDATE_ROLLBACK_FAILED":
        lines.append(
            "The rollback itself failed. Repair the resources named above, then run "
            f"`aws cloudformation continue-update-rollback --stack-name {stack} --region {region}` and re-run."
        )
    elif status == "DELETE_FAILED":
        lines.append(f"Deleting it failed; resolve the cause above and delete it (`{console}` shows details).")
    lines.append(f"All events: {console}")
    return "\n".join(lines)


class _EventFollower:
    """Reports stack events that were not there when it was created, oldest first."""

    def __init__(self, cfn: Any, stack: str, sink: EventSink | None) -> None:
        self.cfn, self.stack, self.sink = cfn, stack, sink
        self.seen: set[str] = set()
        self.stack_event_seen = False  # has the stack itself reported since we started following?
        self.seen.update(e["EventId"] for e in self._first_page())

    def _first_page(self) -> list[dict[str, Any]]:
        try:
            return self.cfn.describe_stack_events(StackName=self.stack).get("StackEvents", [])
        except Exception as exc:  # the stack may not exist yet or any more
            log.debug("no events for %s: %s", self.stack, exc)
            return []

    def poll(self) -> None:
        new = [e for e in self._first_page() if e["EventId"] not in self.seen]
        for event in reversed(new):
            self.seen.add(event["EventId"])
            if event.get("LogicalResourceId") == self.stack and event.get("ResourceType") == STACK_TYPE:
                self.stack_event_seen = True
            if self.sink is not None:
                self.sink(event)


class ChangeSetDeployer:
    """Runs the change-set flow for one stack."""

    def __init__(
        self,
        factory: AwsSessionFactory,
        spec: StackSpec,
        options: DeployOptions,
        observer: DeployObserver,
        ask: Ask,
    ) -> None:
        self.spec, self.options = spec, options
        self.observer, self.ask = observer, ask
        self.cfn = factory.client("cloudformation", spec.region)
        self.factory = factory

    # -- state --------------------------------------------------------------------------------
    def _status(self) -> str | None:
        stack = describe_stack(self.factory, self.spec.name, self.spec.region)
        return None if stack is None else str(stack["StackStatus"])

    def _outputs(self) -> dict[str, str]:
        stack = describe_stack(self.factory, self.spec.name, self.spec.region) or {}
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}

    def _change_set_type(self) -> str:
        name, region = self.spec.name, self.spec.region
        status = self._status()
        if status is None or status == "REVIEW_IN_PROGRESS":
            return "CREATE"
        if status in FAILED_CREATION:
            if not self.options.replace_failed:
                raise XalError(explain_failure(self.cfn, name, region, status))
            self.observer.replacing_failed(name, status)
            self._delete_stack()
            return "CREATE"
        if status in UPDATABLE:
            return "UPDATE"
        if status == "UPDATE_ROLLBACK_FAILED" or status == "DELETE_FAILED":
            raise XalError(explain_failure(self.cfn, name, region, status))
        raise XalError(f"stack {name} in {region} is busy ({status}); wait until it settles and re-run")

    def _delete_stack(self) -> None:
        follower = _EventFollower(self.cfn, self.spec.name, self.observer.event)
        self.cfn.delete_stack(StackName=self.spec.name)
        status = self._wait(follower, done={"DELETE_COMPLETE"}, gone_is_done=True)
        if status != "DELETE_COMPLETE":
            raise XalError(explain_failure(self.cfn, self.spec.name, self.spec.region, status))

    # -- change set ---------------------------------------------------------------------------
    def _create_change_set(self, kind: str) -> tuple[str, dict[str, Any] | None]:
        """Create the change set; returns its name and description, or None when there is nothing to change."""
        from botocore.exceptions import ClientError

        name = f"xal-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        try:
            self.cfn.create_change_set(
                StackName=self.spec.name,
                ChangeSetName=name,
                ChangeSetType=kind,
                TemplateBody=self.spec.template_body(),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.spec.parameters.items())],
                Capabilities=list(self.spec.capabilities),
                Description=f"xal deploy of {self.spec.template.name}",
            )
        except ClientError as exc:
            if _is_no_change(error_message(exc)):
                return name, None
            raise XalError(
                f"CloudFormation rejected the change set for {self.spec.name}: {error_message(exc)}"
            ) from None
        deadline = time.monotonic() + 600
        while True:
            described = self.cfn.describe_change_set(StackName=self.spec.name, ChangeSetName=name)
            status = described.get("Status")
            if status == "CREATE_COMPLETE":
                return name, described
            if status == "FAILED":
                reason = described.get("StatusReason", "")
                self._discard(name, kind)
                if _is_no_change(reason):
                    return name, None
                raise XalError(f"change set for {self.spec.name} failed: {reason}")
            if time.monotonic() > deadline:
                raise XalError(f"change set {name} for {self.spec.name} still {status} after 10 minutes")
            time.sleep(min(self.options.poll_seconds, 5.0))

    def _discard(self, change_set: str, kind: str) -> None:
        """Remove an unexecuted change set, and the empty stack a CREATE change set left behind."""
        try:
            self.cfn.delete_change_set(StackName=self.spec.name, ChangeSetName=change_set)
            if kind == "CREATE" and self._status() == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=self.spec.name)
        except Exception as exc:  # cleanup is best effort; the original outcome matters more
            log.warning("could not clean up change set %s of %s: %s", change_set, self.spec.name, exc)

    # -- execution ----------------------------------------------------------------------------
    def _wait(self, follower: _EventFollower, done: set[str], gone_is_done: bool = False) -> str:
        deadline = time.monotonic() + self.options.timeout_minutes * 60
        started = time.monotonic()
        self.observer.waiting(self.spec.name, None, 0)
        try:
            while True:
                follower.poll()
                status = self._status()
                if status is None and gone_is_done:
                    return "DELETE_COMPLETE"
                if status is None:
                    raise XalError(f"stack {self.spec.name} disappeared while waiting for it")
                settled = not status.endswith("_IN_PROGRESS") or status in done
                # right after ExecuteChangeSet the old status (e.g. UPDATE_COMPLETE) may still show
                fresh = follower.stack_event_seen or time.monotonic() - started > STALE_STATUS_GRACE
                if settled and (fresh or gone_is_done):
                    return status
                self.observer.waiting(self.spec.name, status, int(time.monotonic() - started))
                if time.monotonic() > deadline:
                    raise XalError(
                        f"stack {self.spec.name} still {status} after {self.options.timeout_minutes:g} minutes; "
                        f"follow it with `aws cloudformation describe-stack-events --stack-name {self.spec.name} "
                        f"--region {self.spec.region}` and re-run when it has settled"
                    )
                time.sleep(self.options.poll_seconds)
        finally:
            self.observer.settled()

    def run(self) -> DeployResult:
        spec = self.spec
        kind = self._change_set_type()
        change_set, described = self._create_change_set(kind)
        if described is None:
            return self._report(DeployResult(spec.name, spec.region, "unchanged", outputs=self._outputs()))
        plan = Plan(spec.name, spec.region, kind, change_set, _changes(self.cfn, spec.name, change_set, described))
        self.observer.plan(plan)
        question = f"{'Create' if kind == 'CREATE' else 'Update'} stack {spec.name} in {spec.region}?"
        try:
            confirmed = self.options.yes or self.ask(question)
        except BaseException:
            self._discard(change_set, kind)
            raise
        if not confirmed:
            self._discard(change_set, kind)
            return self._report(DeployResult(spec.name, spec.region, "cancelled", changes=plan.changes))
        follower = _EventFollower(self.cfn, spec.name, self.observer.event)
        self.cfn.execute_change_set(StackName=spec.name, ChangeSetName=change_set)
        status = self._wait(follower, done=SUCCESS)
        if status not in SUCCESS:
            raise XalError(explain_failure(self.cfn, spec.name, spec.region, status))
        outcome = "created" if kind == "CREATE" else "updated"
        return self._report(
            DeployResult(spec.name, spec.region, outcome, changes=plan.changes, outputs=self._outputs())
        )

    def _report(self, result: DeployResult) -> DeployResult:
        self.observer.outcome(result)
        return result


def deploy_stack(
    factory: AwsSessionFactory,
    spec: StackSpec,
    options: DeployOptions | None = None,
    *,
    observer: DeployObserver | None = None,
    ask: Ask = no_one_to_ask,
) -> DeployResult:
    """Create or update ``spec`` through a change set (see the module docstring for the flow).

    ``observer`` is told the plan, events and outcome (default: the log); ``ask`` confirms the
    change set unless ``options.yes`` (default: nobody can, so the change set is discarded).
    """
    deployer = ChangeSetDeployer(factory, spec, options or DeployOptions(), observer or LoggingDeployObserver(), ask)
    return deployer.run()
