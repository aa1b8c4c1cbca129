"""Benchmark: the whole release as one graph, with step durations modelled on a real release.

Takes the step graph ``xal release`` builds (``xal.release.pipeline``: names and needs of a release
with Docker, GitHub, one region copy and make-public) and runs it with the real graph runner
(``xal.release.graph``), each step sleeping its modelled duration (1 minute = ``--scale`` seconds,
default 0.1 s). Prints the timeline and two ratios:

- wall time / sequential sum: the sum is the same work done one step after the other, exports one
  format after the other - what the release buildspec did before (build-ami with the copy inside
  Packer, build-docker --push, export VHD then VMDK, make-ami-public, update-release); goal <= 0.6;
- wall time / critical path (the longest chain of needs): how close the runner comes to what the
  dependencies allow; goal <= 1.1.

Modelled durations (minutes) and where they come from:

- ami 25: Packer launches a t3.medium, runs the playbook (~15 min with the JupyterLab, notebook
  and Docker installs; xal's rehearsal with the real installs takes 2-3 min on a fast network for
  the playbook alone, EC2 adds apt upgrade and image-sized downloads) and CreateImage of the
  100 GB root volume (~10 min); upstream's whole create-vm + Docker release "usually takes around
  1:40 hours" (upstream developer guide, commands.md).
- docker 15: "around 7 minutes" (upstream testing.md; "around 10 minutes" in an older guide) for
  the build, plus pushing a ~4 GB image (~5 min).
- export 43 per format: an ExportImage task of the ~5.4 GB image (upstream #150: images grew from
  3.9 to ~5.4 GB) takes 30-60 min; 40 min plus the server-side rename (~3 min). With sibling AMIs
  the formats run at once, so the step takes one format's time; one after the other they take
  the sum.
- checksums 2: ranged GETs of each ~5.4 GB image at ~100 MB/s from inside AWS, in parallel.
- copy 20: CopyImage of the AMI to us-east-1 (snapshot copy across regions, 15-30 min).
- public 1 per region; notes 0.2; github 1 (upload of the manifests and the small files).

    python3 benchmarks/release_graph.py [--scale 0.1] [--formats 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.export.pipeline import ExportRequest
from xal.image.docker import DockerBuildRequest
from xal.naming import VmFormat
from xal.release.flows import GitHubTarget
from xal.release.graph import Graph, RunRecord, Step, StepContext
from xal.release.pipeline import Builders, ReleasePaths, ReleasePlan, ReleaseRequest
from xal.release.timeline import critical_path, duration, text_timeline

EXPORT_MINUTES = 43.0
MINUTES = {"ami": 25.0, "docker": 15.0, "checksums": 2.0, "copy": 20.0, "public": 1.0, "notes": 0.2, "github": 1.0}
GOALS = {"sequential": 0.6, "critical": 1.1}


def minutes_of(name: str, formats: int) -> tuple[float, float]:
    """(minutes the step takes in the graph, minutes it takes when its work runs one item at a time)."""
    if name == "export":
        return EXPORT_MINUTES, EXPORT_MINUTES * formats
    if name == "checksums":
        return MINUTES["checksums"], MINUTES["checksums"] * formats
    return (MINUTES[name.split(":")[0]],) * 2


def release_steps() -> list[Step]:
    """The graph of a release with Docker, GitHub, one region copy and make-public, as xal builds it."""
    settings = Settings(asset_id="bench")
    request = ReleaseRequest(
        export=ExportRequest(formats=(VmFormat.VHD, VmFormat.VMDK)),
        docker=DockerBuildRequest(),
        copy_regions=("us-east-1",),
        make_public=True,
        github=GitHubTarget(),
        release_id=1,
    )
    paths = ReleasePaths(Path(tempfile.mkdtemp(prefix="xal-bench-")))
    return ReleasePlan(settings, request, Builders(), AwsSessionFactory(settings), paths).steps()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1, help="seconds per modelled minute")
    parser.add_argument("--formats", type=int, default=2, help="VM formats exported (a release: VHD and VMDK)")
    args = parser.parse_args()

    def sleeping(name: str) -> Any:
        def run(ctx: StepContext) -> dict[str, Any]:
            ctx.stop.wait(minutes_of(name, args.formats)[0] * args.scale)
            return {}

        return run

    steps = [Step(s.name, sleeping(s.name), s.needs) for s in release_steps()]
    path = Path(tempfile.mkdtemp(prefix="xal-bench-")) / "release-manifest.json"
    started = time.monotonic()
    record = Graph(steps, RunRecord("bench"), path).run()
    wall = time.monotonic() - started
    now = record.ended or time.time()
    durations = {n: duration(r, now) for n, r in record.steps.items()}
    _, critical = critical_path(durations, {n: r.needs for n, r in record.steps.items()})
    sequential = sum(minutes_of(s.name, args.formats)[1] for s in steps) * args.scale
    print(f"release graph: {len(steps)} steps, {args.formats} VM formats, 1 modelled minute = {args.scale} s")
    for line in text_timeline(record, now):
        print("  " + line)
    for label, ratio, goal in (
        ("wall / sequential sum", wall / sequential, GOALS["sequential"]),
        ("wall / critical path", wall / critical, GOALS["critical"]),
    ):
        print(f"{label:22s} {ratio:.2f} (goal <= {goal}: {'met' if ratio <= goal else 'MISSED'})")
    print(
        f"wall {wall:.2f} s = {wall / args.scale:.0f} modelled min | critical path {critical / args.scale:.0f} min | "
        f"one step after the other {sequential / args.scale:.0f} min"
    )


if __name__ == "__main__":
    main()
