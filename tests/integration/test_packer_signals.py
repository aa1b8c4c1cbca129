"""Ctrl-C during a build: xal forwards it to Packer, waits for Packer's cleanup, exits 130.

The packer here is a small stand-in executable (a real process with real signals) because the
point is xal's process handling, not Packer's: it announces a step, then waits; on SIGINT it
records that it cleaned up and exits like Packer does after an interrupted build.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FAKE_PACKER = """#!/bin/sh
if [ "$1" = version ]; then echo "Packer v1.6.6"; exit 0; fi
cleanup() {
  echo "$(date +%s),,ui,say,==> xal.amazon-ebs.ai_lab: Terminating the source AWS instance..."
  echo cleaned > "$MARKER"
  exit 1
}
trap cleanup INT
echo "$(date +%s),,ui,say,==> xal.amazon-ebs.ai_lab: Launching a source AWS instance..."
echo started > "$MARKER.started"
while :; do sleep 0.1; done
"""


def test_sigint_is_forwarded_and_packer_cleans_up(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "packer"
    fake.write_text(FAKE_PACKER)
    fake.chmod(0o755)
    marker = tmp_path / "marker"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MARKER": str(marker),
        "XAL_STATE_DIR": str(tmp_path / "state"),
        "XAL_DEFAULT_PASSWORD": "rehearsal-pw",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xal",
            "build-ami",
            "--asset-id",
            "sig-1",
            "--aws-endpoint-url",
            "http://127.0.0.1:9",
            "--ssh-host",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not Path(f"{marker}.started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "fake packer never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert marker.read_text().strip() == "cleaned"
    assert "interrupted; Packer ran its cleanup" in err
    assert "Traceback" not in err
    assert "rehearsal-pw" not in err
