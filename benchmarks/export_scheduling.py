"""Benchmark: exporting 3 AMIs x 2 formats takes about the longest per-AMI chain, not the sum.

Runs the real export pipeline (scheduler, ExportImage with ClientToken, batched polling, S3
multipart rename) against an embedded moto server extended with the ExportImage fake, whose
tasks take simulated durations. Prints wall time vs. longest chain vs. sum, and the AWS calls
made (polling economy: one DescribeExportImageTasks per region per poll, for all tasks).

    python3 benchmarks/export_scheduling.py [--scale 1.0] [--sequential]
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

# seconds per (AMI index, format); chain = sum over the formats of one AMI
DURATIONS = {0: {"VHD": 2.0, "VMDK": 3.0}, 1: {"VHD": 1.0, "VMDK": 1.5}, 2: {"VHD": 2.5, "VMDK": 1.0}}


def run(scale: float, max_active: int) -> dict[str, float]:
    with moto_server() as endpoint:
        seed_bucket_stack(endpoint)
        amis = [seed_ami(endpoint, f"bench-{i}") for i in DURATIONS]
        by_ami = {ami: DURATIONS[i] for i, ami in enumerate(amis)}
        config = ExportFakeConfig(duration=lambda ami, fmt: by_ami[ami][fmt] * scale, object_size=6 * MIB)
        with moto_export(config) as fake:
            request = ExportRequest(
                ami_ids=tuple(amis),
                formats=(VmFormat.VHD, VmFormat.VMDK),
                max_active_per_region=max_active,
                poll=PollPolicy(initial=0.1 * scale, factor=1.5, maximum=0.5 * scale, timeout=600),
                part_size=5 * MIB,
            )
            started = time.monotonic()
            result = export_images(Settings(aws_endpoint_url=endpoint, asset_id="bench-0"), request)
            wall = time.monotonic() - started
        chains = [sum(d.values()) * scale for d in DURATIONS.values()]
        return {
            "wall": wall,
            "longest_chain": max(chains),
            "sum": sum(chains),
            "images": len(result.images),
            "export_calls": fake.calls["ExportImage"],
            "describe_calls": fake.calls["DescribeExportImageTasks"],
            "max_active": fake.max_active["eu-central-1"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply all simulated durations")
    parser.add_argument("--sequential", action="store_true", help="also run with --max-active 1 for comparison")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("XAL_STATE_DIR", tempfile.mkdtemp(prefix="xal-bench-"))
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    modes = [("concurrent (max 5/region)", 5)] + ([("one task at a time", 1)] if args.sequential else [])
    print(f"3 AMIs x 2 formats, simulated task durations (s): {DURATIONS} x {args.scale}")
    for label, limit in modes:
        r = run(args.scale, limit)
        print(
            f"{label:28s} wall {r['wall']:6.2f} s | longest chain {r['longest_chain']:5.2f} s | "
            f"sum {r['sum']:5.2f} s | wall/chain {r['wall'] / r['longest_chain']:.2f} | "
            f"images {r['images']:.0f} | ExportImage {r['export_calls']:.0f} | "
            f"DescribeExportImageTasks {r['describe_calls']:.0f} (for 6 tasks) | max active {r['max_active']:.0f}"
        )


if __name__ == "__main__":
    main()
