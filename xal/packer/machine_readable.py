"""Parse ``packer build -machine-readable`` output.

Each line is ``timestamp,target,type,data...``; commas inside a field are escaped as
``%!(PACKER_COMMA)`` and newlines as a literal ``\\n``. Artifacts arrive as
``<ts>,<target>,artifact,<index>,<key>,<value>`` with ``builder-id`` first; a post-processor's
artifact replaces the builder's for the same index, so the last one wins.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field

AMAZON_BUILDER_IDS = ("mitchellh.amazonebs", "mitchellh.amazon.ebs")
RECENT_UI_LINES = 50
_STEP = re.compile(r"^==> (?P<source>[\w.-]+): (?P<message>.+)$")
_TASK = re.compile(r"TASK \[(?P<task>.+?)\]")
_RECAP_HOST = re.compile(r"^\S+\s+: ok=\d+")  # "default   : ok=2 changed=1 ..." after PLAY RECAP
_SOURCE_AMI = re.compile(r"Found Image ID: (?P<ami>ami-[0-9a-f]+)")
# ansible-core >= 2.19 prints one "[ERROR]: Task failed: ..." line; older versions only the result dict
_ANSIBLE_ERROR = re.compile(r"\[ERROR\]: Task failed: (?:Module failed: )?(?P<message>.+)")
_ANSIBLE_FAILURE = re.compile(r"(?:fatal|failed): \[[^\]]+\]: (?:FAILED!|UNREACHABLE!) => (?P<result>\{.*\})")


def unescape(value: str) -> str:
    return value.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r")


@dataclass(frozen=True)
class PackerEvent:
    timestamp: int
    target: str
    kind: str
    data: tuple[str, ...]

    @property
    def ui_message(self) -> str | None:
        """Text of a ``ui`` line (``say``/``message``/``error``), else None."""
        if self.kind == "ui" and len(self.data) >= 2:
            return self.data[1]
        return None


def parse_line(line: str) -> PackerEvent | None:
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    timestamp, target, kind, *data = parts
    return PackerEvent(int(timestamp), target, kind, tuple(unescape(d) for d in data))


def step_of(message: str) -> tuple[str, str] | None:
    """``("amazon-ebs.ai_lab", "Creating AMI ...")`` for Packer's ``==> source: step`` lines."""
    for line in message.splitlines():
        m = _STEP.match(line.strip())
        if m:
            return m["source"], m["message"].strip()
    return None


class ProvisionerOutput:
    """Tells Packer's own steps from the Ansible provisioner's output, in both generations of the UI.

    Packer < 1.13 with ansible plugin < 1.1.5 prints the playbook's lines as ``ui,message`` (indented,
    no ``==>``), so ``step_of`` alone sees only Packer's steps. Since Packer 1.13
    ``TargetedUI.Message`` calls ``Say`` (hashicorp/packer ``packer/ui.go:150-152``) and ansible plugin
    1.1.5 prints each line with ``ui.Say`` (packer-plugin-ansible ``provisioner.go:924``), so every
    playbook line arrives as ``ui,say,==> <source>: ...`` too. The playbook's output runs from
    Packer's "Executing Ansible" step to the host line after ``PLAY RECAP``: inside it, a ``==>``
    line is the provisioner's, not a step.
    """

    def __init__(self) -> None:
        self.running = False  # between "Executing Ansible" and the end of the recap
        self.recap = False  # PLAY RECAP seen: the host summary lines follow, then Packer again

    def step(self, message: str) -> tuple[str, str] | None:
        """``step_of(message)`` when it is one of Packer's steps, None for provisioner output."""
        step = step_of(message)
        text = step[1] if step else message.strip().split(": ", 1)[-1]
        if self.running:
            if self.recap and step is not None and not _RECAP_HOST.match(text):
                self.running = self.recap = False  # the playbook has ended: this is Packer's next step
            else:
                self.recap = self.recap or text.startswith("PLAY RECAP")
                return None
        if step is not None and step[1].startswith("Executing Ansible"):
            self.running = True
        return step


def ansible_task_of(message: str) -> str | None:
    m = _TASK.search(message)
    return m["task"] if m else None


def _result_message(result: str) -> str:
    """The ``msg`` (plus stderr) of an Ansible result dict, or the raw text when it is not JSON."""
    try:
        data = json.loads(result)
    except ValueError:
        return result
    parts = [str(data.get("msg", "")).strip(), str(data.get("stderr", "")).strip()]
    return " | ".join(p for p in parts if p) or result


@dataclass
class Artifact:
    builder_id: str = ""
    id: str = ""
    string: str = ""
    files: list[str] = field(default_factory=list)

    @property
    def amis(self) -> dict[str, str]:
        """Region -> AMI id for amazon builders (``"r1:ami-1,r2:ami-2"``)."""
        if self.builder_id not in AMAZON_BUILDER_IDS or not self.id:
            return {}
        return dict(part.split(":", 1) for part in self.id.split(",") if ":" in part)


@dataclass
class BuildOutcome:
    """What one ``packer build`` produced, collected from the event stream."""

    artifacts: dict[str, Artifact] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # Packer's "error" events: a build failed
    ui_errors: list[str] = field(default_factory=list)  # error-styled UI lines, warnings included
    # the last UI lines of any style: a failing command's own output (e.g. `docker pull`'s stderr)
    # comes as plain messages right before Packer's error
    recent_ui: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_UI_LINES))
    source_amis: set[str] = field(default_factory=set)
    ansible_task: str | None = None
    ansible_failures: list[str] = field(default_factory=list)

    def feed(self, event: PackerEvent) -> None:
        if event.kind == "artifact" and len(event.data) >= 2:
            self._artifact(event)
        elif event.kind == "error" and event.data:
            self.errors.append(event.data[0])
        elif (text := event.ui_message) is not None:
            self.recent_ui.append(text)
            if event.data[0] == "error":
                self.ui_errors.append(text)
            if m := _SOURCE_AMI.search(text):
                self.source_amis.add(m["ami"])
            if task := ansible_task_of(text):
                self.ansible_task = task
            elif m := _ANSIBLE_ERROR.search(text):
                self._ansible_failed(m["message"].strip())
            elif (m := _ANSIBLE_FAILURE.search(text)) and not self._task_failure_seen:
                self._ansible_failed(_result_message(m["result"]))

    @property
    def _task_failure_seen(self) -> bool:
        return bool(self.ansible_failures) and self.ansible_failures[-1].startswith(f"task '{self.ansible_task}' ")

    def _ansible_failed(self, message: str) -> None:
        self.ansible_failures.append(f"task '{self.ansible_task}' failed: {message}")

    def _artifact(self, event: PackerEvent) -> None:
        key, value = event.data[1], ",".join(event.data[2:])
        if key == "builder-id":
            self.artifacts[event.target] = Artifact(builder_id=value)
            return
        art = self.artifacts.setdefault(event.target, Artifact())
        if key == "id":
            art.id = value
        elif key == "string":
            art.string = value
        elif key == "file" and len(event.data) >= 4:
            art.files.append(",".join(event.data[3:]))

    def amis(self) -> dict[str, str]:
        return {region: ami for art in self.artifacts.values() for region, ami in art.amis.items()}
