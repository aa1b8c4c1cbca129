"""A thin, injectable proxy around ansible-runner for the playbooks of ``ansible/``.

What leaves xal's process and how:

- the inventory (host, port, user, *path* of the private key) and the extra variables are files
  with mode 0600 in a private data dir (0700) under ``<state dir>/ansible/``; ansible-playbook
  gets ``-e @env/extravars``, never values on its command line;
- extra variables carry password *hashes* only, and ``env/extravars`` is deleted after the run
  (the artifacts - stdout, events - stay for debugging);
- the environment of ansible-playbook is xal's minus everything secret-looking (``*PASSWORD*``,
  ``*TOKEN*``, ``*SECRET*``, ``AWS_*`` ...) and minus any value that holds a registered secret:
  ansible-runner would otherwise also copy it to ``artifacts/<id>/command``.

Events are counted here (ok/changed/failed/skipped, the current task) and reported to a
:class:`PlaybookObserver` (the CLI's live display; by default nobody); a failure raises an
:class:`~xal.errors.XalError` naming the failing task, the host and Ansible's message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xal import defaults
from xal.errors import UsageError, XalError
from xal.paths import ansible_dir as default_ansible_dir
from xal.paths import state_dir
from xal.secrets import redact

log = logging.getLogger(__name__)

SSH_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ServerAliveInterval=30"
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|^AWS_|_KEY$|_KEY_ID$", re.IGNORECASE)
HOST_ALIAS = "target"


@dataclass(frozen=True)
class AnsibleTarget:
    """Where the playbook runs: an SSH host reached with a private key."""

    host: str
    private_key: Path
    port: int = 22
    user: str = defaults.SSH_USERNAME

    def inventory(self) -> dict[str, Any]:
        return {
            "all": {
                "hosts": {
                    HOST_ALIAS: {
                        "ansible_host": self.host,
                        "ansible_port": self.port,
                        "ansible_user": self.user,
                        "ansible_ssh_private_key_file": str(self.private_key),
                        "ansible_ssh_common_args": SSH_COMMON_ARGS,
                    }
                }
            }
        }


@dataclass
class PlaybookResult:
    playbook: str
    rc: int
    status: str
    private_dir: Path
    seconds: float
    counts: dict[str, int]


def clean_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment for ansible-playbook: no secret-looking names, no registered secret values."""
    return {
        name: value
        for name, value in environ.items()
        if not _SECRET_NAME.search(name) and redact(value) == value and not name.startswith("XAL_")
    }


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def run_with_clean_env(**kwargs: Any) -> Any:
    """``ansible_runner.run`` with the child's environment cleaned after ansible-runner prepared it."""
    from ansible_runner.interface import init_runner

    runner = init_runner(**kwargs)
    runner.config.env = clean_environment(runner.config.env)
    runner.run()
    return runner


@contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event ansible-runner polls (it then stops the playbook); the previous
    handlers are restored afterwards (ansible-runner's own handler would stay installed)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class PlaybookState:
    """What the events of one playbook run said so far: counts, the current task, the failures."""

    title: str
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "changed": 0, "failed": 0, "skipped": 0})
    task: str = ""
    tasks: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    @property
    def task_text(self) -> str:
        """The current task's name with secrets masked: what may be shown."""
        return redact(self.task)

    def feed(self, event: dict[str, Any]) -> bool:
        """Count one ansible-runner event; True when it started a task."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start":
            self.task = data.get("task") or data.get("name") or "?"
            self.tasks += 1
            return True
        if kind == "runner_on_ok":
            self.counts["changed" if (data.get("res") or {}).get("changed") else "ok"] += 1
        elif kind == "runner_on_skipped":
            self.counts["skipped"] += 1
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                self.counts["ok"] += 1
            else:
                self.counts["failed"] += 1
                task = data.get("task") or self.task
                if kind == "runner_on_unreachable":
                    task += " (host unreachable)"
                self.failures.append((task, data.get("host", "?"), failure_message(data)))
        return False


class PlaybookObserver(Protocol):
    """Told how a playbook run goes: once at the start and the end, at each task and after every event."""

    def started(self, state: PlaybookState) -> None: ...

    def task_started(self, state: PlaybookState) -> None: ...

    def updated(self, state: PlaybookState) -> None: ...

    def finished(self, state: PlaybookState) -> None: ...


class QuietPlaybookObserver:
    """The library default: the result's counts and the artifacts under the private dir are the record."""

    def started(self, state: PlaybookState) -> None:
        pass

    def task_started(self, state: PlaybookState) -> None:
        pass

    def updated(self, state: PlaybookState) -> None:
        pass

    def finished(self, state: PlaybookState) -> None:
        pass


@dataclass
class _EventHandler:
    """The ``event_handler`` of ansible-runner: counts each event, then tells the observer."""

    state: PlaybookState
    observer: PlaybookObserver

    def __call__(self, event: dict[str, Any]) -> bool:
        if self.state.feed(event):
            self.observer.task_started(self.state)
        self.observer.updated(self.state)
        return True  # keep the event in ansible-runner's artifacts


def failure_message(event_data: dict[str, Any]) -> str:
    """Ansible's own message of a failed result, plus stderr of command-like modules."""
    res = event_data.get("res") or {}
    parts = [str(res.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr"):
        text = str(res.get(key) or "").strip()
        if text and text not in parts[0]:
            parts.append(text[-1500:])
    if not any(parts) and res:
        parts = [json.dumps(res, default=str)[:1500]]
    return redact(" | ".join(p for p in parts if p) or "no message")


RunFunction = Callable[..., Any]


class PlaybookRunner:
    """Runs a playbook of ``ansible_dir`` against one target; ``run_function`` is injectable for tests."""

    def __init__(
        self,
        ansible_dir: Path | None = None,
        work_root: Path | None = None,
        run_function: RunFunction | None = None,
        verbosity: int = 0,
    ) -> None:
        self.ansible_dir = ansible_dir or default_ansible_dir()
        self.work_root = work_root or state_dir() / "ansible"
        self.run_function = run_function or run_with_clean_env
        self.verbosity = verbosity

    def prepare(self, playbook: str, target: AnsibleTarget, extravars: dict[str, Any]) -> Path:
        """The private data dir: inventory and extra variables as 0600 files."""
        if not (self.ansible_dir / playbook).is_file():
            raise XalError(f"playbook {self.ansible_dir / playbook} not found")
        if not target.private_key.is_file():
            raise UsageError(f"SSH private key {target.private_key} not found")
        self.work_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f"{Path(playbook).stem}-", dir=self.work_root))
        _write_private(private / "inventory" / "hosts.json", json.dumps(target.inventory()))
        _write_private(private / "env" / "extravars", json.dumps(extravars))
        return private

    def run(
        self,
        playbook: str,
        target: AnsibleTarget,
        extravars: dict[str, Any] | None = None,
        cmdline: str | None = None,
        title: str | None = None,
        observer: PlaybookObserver | None = None,
    ) -> PlaybookResult:
        """Run ``playbook`` on ``target``; ``observer`` is told its progress (default: nobody)."""
        private = self.prepare(playbook, target, extravars or {})
        started = time.monotonic()
        envvars = {
            "ANSIBLE_CONFIG": str(self.ansible_dir / "ansible.cfg"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "True",
        }
        state = PlaybookState(title or playbook)
        observer = observer or QuietPlaybookObserver()
        observer.started(state)
        try:
            with _interruptible() as stop:
                runner = self.run_function(
                    private_data_dir=str(private),
                    project_dir=str(self.ansible_dir),
                    playbook=playbook,
                    inventory=str(private / "inventory" / "hosts.json"),
                    cmdline=cmdline,
                    envvars=envvars,
                    event_handler=_EventHandler(state, observer),
                    cancel_callback=stop.is_set,
                    quiet=True,
                    verbosity=self.verbosity or None,
                )
        finally:
            observer.finished(state)
            (private / "env" / "extravars").unlink(missing_ok=True)  # hashes: not kept after the run
        result = PlaybookResult(
            playbook=playbook,
            rc=runner.rc,
            status=runner.status,
            private_dir=private,
            seconds=round(time.monotonic() - started, 1),
            counts=dict(state.counts),
        )
        log.info("%s finished: %s rc=%s in %.1f s (%s)", playbook, runner.status, runner.rc, result.seconds, private)
        if stop.is_set() or runner.status == "canceled":
            raise KeyboardInterrupt
        if runner.rc != 0 or runner.status != "successful":
            raise XalError(self._failure_text(playbook, state, runner, private))
        return result

    @staticmethod
    def _failure_text(playbook: str, state: PlaybookState, runner: Any, private: Path) -> str:
        where = f"(log: {private}/artifacts)"
        if state.failures:
            task, host, message = state.failures[0]
            more = f" (+{len(state.failures) - 1} more failure(s))" if len(state.failures) > 1 else ""
            return f"{playbook} failed at task '{task}' on {host}: {message}{more} {where}"
        tail = ""
        with suppress(AttributeError, OSError, ValueError):
            tail = " ".join(runner.stdout.read().strip().splitlines()[-5:])
        return redact(f"{playbook} failed ({runner.status}, rc={runner.rc}): {tail or 'no output'} {where}")
