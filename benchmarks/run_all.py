"""Every benchmark in one command, each printing its measured figures and ratios.

    python3 benchmarks/run_all.py [--full]

--full also runs the offline rehearsal and the playbook benchmark with the real installs
(JupyterLab, notebook packages, Docker: several minutes, downloads from PyPI/Debian).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    full = "--full" in sys.argv
    runs = [
        ["cli_start.py"],
        ["rehearsal.py", *(["--full"] if full else [])],
        ["ansible_playbook.py", *(["--real"] if full else [])],
        ["export_scheduling.py"],
        ["release_graph.py"],
        ["api_calls.py"],
    ]
    failed = []
    for argv in runs:
        print(f"\n=== {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], check=False)
        print(f"=== {argv[0]}: {time.perf_counter() - started:.1f} s, exit {result.returncode}", flush=True)
        if result.returncode != 0:
            failed.append(argv[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
