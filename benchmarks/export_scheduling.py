"""Benchmark: a release's export - 1 AMI x 3 formats - takes about the longest single export.

AWS runs one export task per AMI at a time, so without help the three formats of the release AMI
run one after the other (wall time = the sum). xal registers a sibling AMI on the same snapshots
for each format beyond the first and exports all three at once. This runs the real export
pipeline (siblings, scheduler, ExportImage with ClientToken, batched polling, S3 multipart rename)
against an embedded moto extended with the ExportImage/RegisterImage fake, whose tasks take
simulated durations and which refuses a second active task per AMI as AWS does.

Prints wall time / longest single export (goal <= 1.1) with siblings, and with --compare the
same export one format at a time (--no-siblings: about the sum, i.e. before sibling AMIs).

    python3 benchmarks/export_scheduling.py [--scale 1.0] [--compare]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

from xal.config import Settings
from xal.export.pipeline import ExportRequest, export_images
from xal.export.tasks import PollPolicy
from xal.local.moto_export import MIB, ExportFakeConfig, moto_export, seed_ami, seed_bucket_stack
from xal.local.moto_server import moto_server
from xal.naming import VmFormat

# simulated seconds per format: a real export of the ~5 GB image takes 40-60 min, here 1 min = 0.5 s,
# so xal's fixed cost (pre-flight, client setup, the S3 rename: ~2 s here) weighs about as much as
# its real counterpart (seconds against an hour) would, times 60
DURATIONS = {"VHD": 30.0, "VMDK": 25.0, "RAW": 20.0}
GOAL = 1.1


def run(scale: float, siblings: bool) -> dict[str, float]:
    with moto_server() as endpoint:
        seed_bucket_stack(endpoint)
        seed_ami(endpoint, "bench")
        config = ExportFakeConfig(duration=lambda _ami, fmt: DURATIONS[fmt] * scale, object_size=6 * MIB)
        with moto_export(config) as fake:
            request = ExportRequest(
                formats=tuple(VmFormat(f) for f in DURATIONS),
                poll=PollPolicy(initial=0.1, factor=1.5, maximum=0.5, timeout=600),
                part_size=5 * MIB,
                siblings=siblings,
            )
            started = time.monotonic()
            result = export_images(Settings(aws_endpoint_url=endpoint, asset_id="bench"), request)
            wall = time.monotonic() - started
        return {
            "wall": wall,
            "longest": max(DURATIONS.values()) * scale,
            "sum": sum(DURATIONS.values()) * scale,
            "images": len(result.images),
            "register_calls": fake.calls["RegisterImage"],
            "export_calls": fake.calls["ExportImage"],
            "describe_calls": fake.calls["DescribeExportImageTasks"],
            "max_active": fake.max_active["eu-central-1"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply all simulated durations")
    parser.add_argument("--compare", action="store_true", help="also export one format at a time")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("XAL_STATE_DIR", tempfile.mkdtemp(prefix="xal-bench-"))
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    print(f"1 AMI x 3 formats, simulated export durations (s): {DURATIONS} x {args.scale}")
    modes = [("sibling AMIs (default)", True)] + ([("one format at a time", False)] if args.compare else [])
    for label, siblings in modes:
        r = run(args.scale, siblings)
        ratio = r["wall"] / r["longest"]
        verdict = f" (goal <= {GOAL}: {'met' if ratio <= GOAL else 'MISSED'})" if siblings else ""
        print(
            f"{label:24s} wall {r['wall']:5.2f} s | longest export {r['longest']:4.2f} s | sum {r['sum']:4.2f} s | "
            f"wall/longest {ratio:.2f}{verdict} | images {r['images']:.0f} | RegisterImage {r['register_calls']:.0f} | "
            f"ExportImage {r['export_calls']:.0f} | DescribeExportImageTasks {r['describe_calls']:.0f} | "
            f"max active {r['max_active']:.0f}"
        )


if __name__ == "__main__":
    main()
