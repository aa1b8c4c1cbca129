"""Thin proxy around the ``packer`` executable (injected, so tests can swap it).

Packer runs in its own process group: a Ctrl-C reaches xal, which forwards exactly one SIGINT
to Packer and keeps reading its output until Packer has finished its own cleanup (terminating
the instance, deleting the security group and key pair). Only then does xal exit.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from xal.errors import UsageError, XalError
from xal.packer.amazon_ebs import Generation
from xal.packer.machine_readable import PackerEvent, parse_line

PLUGINS_MIN_VERSION = (1, 7, 0)
# What xal was checked against: Debian's 1.6.6 (run here), and current Packer from 1.10 (docker is a
# plugin from then on) to 1.16 (whose sources were read, see the README's "Packer versions").
LEGACY_VERSION = (1, 6, 6)
CURRENT_RANGE = ((1, 10), (1, 16))
SUPPORTED = "1.6.6 and 1.10-1.16"

log = logging.getLogger(__name__)


def check_supported(version: tuple[int, int, int]) -> None:
    """One warning for a version xal was not checked against, an error for one it cannot drive."""
    text = ".".join(map(str, version))
    if version[0] != 1 or version < LEGACY_VERSION:
        raise XalError(f"Packer {text} is not supported (supported: {SUPPORTED}); install one of those")
    low, high = CURRENT_RANGE
    if version == LEGACY_VERSION or low <= version[:2] <= high:
        return
    newer = version[:2] > high
    log.warning(
        "Packer %s is %s (supported: %s); building anyway",
        text,
        "newer than checked" if newer else "not checked",
        SUPPORTED,
    )


class OnError(StrEnum):
    """Packer's ``-on-error``: what happens to the build instance when a step fails."""

    CLEANUP = "cleanup"  # delete everything Packer created
    ABORT = "abort"  # keep everything for inspection
    ASK = "ask"  # ask on the terminal

    @classmethod
    def parse(cls, value: str) -> OnError:
        try:
            return cls(value)
        except ValueError:
            raise UsageError(f"--on-error must be one of {', '.join(cls)}") from None


@dataclass(frozen=True)
class PackerRun:
    returncode: int
    interrupted: bool
    seconds: float  # wall time of the packer process itself


class PackerBinary:
    def __init__(self, executable: str = "packer") -> None:
        self.executable = executable
        self._reported: tuple[int, int, int] | None = None

    def path(self) -> str:
        found = shutil.which(self.executable)
        if found is None:
            raise XalError(f"{self.executable} not found on PATH; run scripts/bootstrap or install Packer")
        return found

    def version(self) -> tuple[int, int, int]:
        """The installed version, asked once: one build consults it for the templates, the
        variables and ``packer init``, and each ``packer version`` is a process start."""
        if self._reported is not None:
            return self._reported
        env = {**os.environ, "CHECKPOINT_DISABLE": "1"}  # no update check against checkpoint-api.hashicorp.com
        out = subprocess.run([self.path(), "version"], capture_output=True, text=True, check=False, env=env).stdout
        m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", out)
        if not m:
            raise XalError(f"cannot read the Packer version from {out.strip()!r}")
        self._reported = int(m[1]), int(m[2]), int(m[3])
        return self._reported

    def uses_plugins(self) -> bool:
        """Packer >= 1.7 needs ``required_plugins`` and ``packer init``; 1.6 has the builders built in."""
        return self.version() >= PLUGINS_MIN_VERSION

    def generation(self) -> Generation:
        return Generation.CURRENT if self.uses_plugins() else Generation.LEGACY

    def init(self, template_dir: Path, env: Mapping[str, str]) -> None:
        result = subprocess.run(
            [self.path(), "init", "."], cwd=template_dir, env=dict(env), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise XalError(f"packer init failed: {result.stderr.strip() or result.stdout.strip()}")

    def build(
        self,
        template_dir: Path,
        var_file: Path,
        env: Mapping[str, str],
        on_event: Callable[[PackerEvent], None],
        *,
        only: list[str] | None = None,
        on_error: OnError | str = OnError.CLEANUP,
        debug: bool = False,
        cancel: threading.Event | None = None,
    ) -> PackerRun:
        """Run ``packer build -machine-readable``; every parsed line goes to ``on_event``.

        Ctrl-C/SIGTERM (main thread) or ``cancel`` (any thread, e.g. a failed branch of the release
        graph) send Packer one SIGINT: it runs its cleanup (instance, group, key pair) and exits."""
        on_error = OnError.parse(on_error)
        argv = [
            self.path(),
            "build",
            "-machine-readable",
            "-color=false",
            f"-on-error={on_error.value}",
            f"-var-file={var_file}",
        ]
        if only:
            argv.append(f"-only={','.join(only)}")
        if debug:
            argv.append("-debug")
        argv.append(".")
        interactive = debug or on_error is OnError.ASK
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            cwd=template_dir,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=None if interactive else subprocess.DEVNULL,
            start_new_session=True,
        )
        interrupted = False

        def forward(signum: int, _frame: object) -> None:
            nonlocal interrupted
            if proc.poll() is None and not interrupted:
                interrupted = True
                os.killpg(proc.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

        def watch() -> None:
            while proc.poll() is None:
                if cancel is not None and cancel.wait(0.5):
                    forward(signal.SIGINT, None)
                    return

        previous = {}
        if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
            previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        if cancel is not None:
            threading.Thread(target=watch, name="xal-packer-cancel", daemon=True).start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                event = parse_line(line)
                if event is not None:
                    on_event(event)
            returncode = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return PackerRun(returncode, interrupted, round(time.monotonic() - started, 3))
