"""Wall time of the AI-Lab playbook's configuration against fresh sshd containers.

    python3 benchmarks/ansible_playbook.py [--real] [--repeat N]

For pipelining on and off (ANSIBLE_PIPELINING overrides ansible/ansible.cfg) a fresh container
(Debian 12, the EC2 stand-in of the tests) gets the configuration twice: the first run does the
work, the re-run only checks (goal: re-run < 20 % of the first run). Stand-ins for the heavy
downloads by default (like the tests); --real installs JupyterLab, the notebook packages and
docker.io. The slowest tasks of the re-run are listed: they are what a re-run costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "integration")]

from ansible_helpers import REAL, STAND_INS, make_slc_repository, run_playbook  # noqa: E402

from xal.config import Settings  # noqa: E402
from xal.local.images import prepare_local_images  # noqa: E402
from xal.local.sshd_target import generate_key, sshd_target  # noqa: E402


def slowest_tasks(runner, count: int = 5) -> list[tuple[float, str]]:
    durations = [
        (float(event["event_data"].get("duration") or 0), event["event_data"].get("task", "?"))
        for event in runner.events
        if event.get("event") in ("runner_on_ok", "runner_on_skipped")
    ]
    return sorted(durations, reverse=True)[:count]


def measure(image: str, work: Path, extravars: dict, pipelining: bool) -> dict:
    key = generate_key(work / "id_ed25519")
    env = {"ANSIBLE_PIPELINING": str(pipelining)}
    with sshd_target(image, key) as target:
        make_slc_repository(work, target.container)
        _, first = run_playbook(target, work / "first", extravars=extravars, cmdline="--skip-tags sysprep", envvars=env)
        rerun_runner, rerun = run_playbook(
            target, work / "rerun", extravars=extravars, cmdline="--skip-tags sysprep", envvars=env
        )
        changed = rerun_runner.stats["changed"].get("target", 0)
    return {"first": first, "rerun": rerun, "changed": changed, "slowest": slowest_tasks(rerun_runner)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="real JupyterLab/notebook packages/docker.io")
    parser.add_argument("--repeat", type=int, default=1, help="containers per pipelining setting")
    args = parser.parse_args()
    extravars = {**(REAL if args.real else STAND_INS), "ai_lab_target": "ec2", "ai_lab_netplan_packages": []}

    with tempfile.TemporaryDirectory(prefix="xal-bench-") as tmp:
        _, sshd_image, _ = prepare_local_images(Settings(), Path(tmp) / "images")
        results: dict[bool, list[dict]] = {True: [], False: []}
        for round_ in range(args.repeat):
            for pipelining in (True, False):
                result = measure(sshd_image, Path(tmp) / f"{round_}-{pipelining}", extravars, pipelining)
                results[pipelining].append(result)
                print(
                    f"pipelining {'on ' if pipelining else 'off'}: first run {result['first']:6.1f} s, "
                    f"re-run {result['rerun']:5.1f} s (changed={result['changed']}), "
                    f"re-run/first {result['rerun'] / result['first']:.0%}",
                    flush=True,
                )

    print(f"\nsummary ({'real install' if args.real else 'stand-ins'}, median of {args.repeat}):")
    med = {p: {k: statistics.median(r[k] for r in rs) for k in ("first", "rerun")} for p, rs in results.items()}
    for pipelining in (True, False):
        m = med[pipelining]
        print(
            f"  pipelining {'on ' if pipelining else 'off'}: first {m['first']:6.1f} s  re-run {m['rerun']:5.1f} s"
            f"  re-run/first {m['rerun'] / m['first']:.0%} (goal < 20%)"
        )
    saved = 1 - med[True]["rerun"] / med[False]["rerun"]
    saved_first = 1 - med[True]["first"] / med[False]["first"]
    print(f"  pipelining saves {saved:.0%} of the re-run, {saved_first:.0%} of the first run")
    print("  slowest tasks of the re-run (pipelining on):")
    for duration, task in results[True][0]["slowest"]:
        print(f"    {duration:5.2f} s  {task}")


if __name__ == "__main__":
    main()
