"""CLI start-up: wall time of `xal --help` against a bare `python -c pass`.

Target: `xal --help` answers in well under a second (boto3, PyGithub, ansible and moto are only
imported by the commands that need them).  Usage: python benchmarks/cli_start.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def wall(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    bare = wall([sys.executable, "-c", "pass"], runs)
    help_ = wall([sys.executable, "-m", "xal", "--help"], runs)
    show = wall([sys.executable, "-m", "xal", "show-config", "--json"], runs)
    print(f"python -c pass          {bare * 1000:7.1f} ms (median of {runs})")
    print(f"xal --help              {help_ * 1000:7.1f} ms  ratio {help_ / bare:5.1f}x  target < 1000 ms")
    print(f"xal show-config --json  {show * 1000:7.1f} ms  ratio {show / bare:5.1f}x")


if __name__ == "__main__":
    main()
