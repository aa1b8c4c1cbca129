"""A Packer build runs in a worker thread of the release graph: no signal handlers there (Python
allows them only in the main thread), and the cancel event reaches Packer as one SIGINT."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from xal.packer.binary import PackerBinary, PackerRun

# a stand-in packer: reports a version, and on build waits until SIGINT, then "cleans up" and exits 1
STAND_IN = """#!/usr/bin/env bash
if [ "$1" = "version" ]; then echo "Packer v1.6.6"; exit 0; fi
trap 'echo "1700000000,,ui,say,cleaning up after SIGINT"; exit 1' INT
echo "1700000000,,ui,say,build started"
for _ in $(seq 300); do sleep 0.1; done
echo "1700000000,,ui,say,never cancelled"
"""


def test_cancel_event_interrupts_packer_from_a_worker_thread(tmp_path: Path) -> None:
    packer = tmp_path / "packer"
    packer.write_text(STAND_IN)
    packer.chmod(0o755)
    (tmp_path / "vars.json").write_text("{}")
    cancel = threading.Event()
    lines: list[str] = []
    result: list[PackerRun] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            run = PackerBinary(str(packer)).build(
                tmp_path,
                tmp_path / "vars.json",
                {"PATH": "/usr/bin:/bin"},
                lambda e: lines.append(e.ui_message or ""),
                cancel=cancel,
            )
            result.append(run)
        except BaseException as exc:  # e.g. ValueError: signal only works in main thread
            errors.append(exc)

    worker = threading.Thread(target=build)
    started = time.monotonic()
    worker.start()
    time.sleep(1.0)
    cancel.set()
    worker.join(timeout=20)
    assert errors == []
    assert not worker.is_alive() and time.monotonic() - started < 10  # not the stand-in's 30 s
    (run,) = result
    assert run.interrupted and run.returncode == 1
    assert "cleaning up after SIGINT" in lines and "never cancelled" not in lines
