"""The release graph: steps start when their needs are done, run at once, are recorded, resumed,
and stop together when one fails; the timeline and its critical path."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from xal.release.graph import Graph, Outcome, ReleaseFailed, RunRecord, Step, StepContext, check_graph
from xal.release.timeline import bars, critical_path, render_svg, text_timeline


def sleeper(seconds: float, log: list[str], outputs: dict[str, Any] | None = None):
    def run(ctx: StepContext) -> dict[str, Any]:
        log.append(f"start {ctx.name}")
        if ctx.stop.wait(seconds):
            log.append(f"stopped {ctx.name}")
            raise RuntimeError("stopped")
        log.append(f"end {ctx.name}")
        return outputs or {"from": ctx.name, "inputs": sorted(ctx.inputs)}

    return run


def test_independent_steps_run_at_once_and_record_everything(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        Step("ami", sleeper(0.6, log, {"ami": "ami-1"})),
        Step("docker", sleeper(0.6, log)),
        Step("export", sleeper(0.6, log), ("ami",)),
        Step("copy", sleeper(0.6, log), ("ami",)),
        Step("notes", sleeper(0.0, log), ("export", "copy", "docker")),
    ]
    path = tmp_path / "release-manifest.json"
    started = time.monotonic()
    record = Graph(steps, RunRecord("7.1.0"), path).run()
    wall = time.monotonic() - started
    assert wall < 1.6  # critical path 1.2 s; one after the other would be 2.4 s
    assert log.index("start docker") < log.index("end ami")  # docker and ami ran together
    assert max(log.index("start export"), log.index("start copy")) < min(log.index("end export"), log.index("end copy"))
    assert all(r.outcome is Outcome.SUCCEEDED for r in record.steps.values())
    assert record.steps["notes"].outputs == {"from": "notes", "inputs": ["copy", "docker", "export"]}
    on_disk = RunRecord.load(path)
    assert on_disk.steps["ami"].outputs == {"ami": "ami-1"}
    assert on_disk.steps["export"].started >= on_disk.steps["ami"].ended
    assert on_disk.steps["export"].needs == ["ami"]


def test_a_failure_stops_the_other_branches_and_a_rerun_redoes_only_what_failed(tmp_path: Path) -> None:
    log: list[str] = []
    attempts = {"export": 0}

    def flaky_export(ctx: StepContext) -> dict[str, Any]:
        attempts["export"] += 1
        if attempts["export"] == 1:
            raise RuntimeError("export task ended deleted")
        return {"images": 2}

    def steps() -> list[Step]:
        return [
            Step("ami", sleeper(0.1, log)),
            Step("docker", sleeper(5.0 if attempts["export"] == 0 else 0.1, log)),
            Step("export", flaky_export, ("ami",)),
            Step("notes", sleeper(0.0, log), ("export", "docker")),
        ]

    path = tmp_path / "release-manifest.json"
    started = time.monotonic()
    with pytest.raises(ReleaseFailed, match="export: export task ended deleted") as info:
        Graph(steps(), RunRecord("7.1.0"), path).run()
    assert time.monotonic() - started < 3  # docker was told to stop instead of running 5 s
    outcomes = {n: r.outcome for n, r in info.value.record.steps.items()}
    assert outcomes == {
        "ami": Outcome.SUCCEEDED,
        "docker": Outcome.STOPPED,
        "export": Outcome.FAILED,
        "notes": Outcome.SKIPPED,
    }
    assert "stopped docker" in log

    log.clear()
    record = Graph(steps(), RunRecord.load(path), path).run()
    assert record.steps["ami"].outcome is Outcome.REUSED  # done before, not built again
    assert "start ami" not in log
    assert [record.steps[n].outcome for n in ("docker", "export", "notes")] == [Outcome.SUCCEEDED] * 3
    assert attempts["export"] == 2


def test_a_step_whose_result_is_gone_runs_again(tmp_path: Path) -> None:
    log: list[str] = []
    exists = {"ami-1": True}
    steps = [Step("ami", sleeper(0.0, log, {"ami": "ami-1"}), done=lambda out: exists[out["ami"]])]
    path = tmp_path / "r.json"
    Graph(steps, RunRecord("7.1.0"), path).run()
    assert Graph(steps, RunRecord.load(path), path).run().steps["ami"].outcome is Outcome.REUSED
    exists["ami-1"] = False  # deregistered since
    assert Graph(steps, RunRecord.load(path), path).run().steps["ami"].outcome is Outcome.SUCCEEDED


def test_observer_sees_each_running_step_and_its_progress(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    class Observer:
        def changed(self, record: Any) -> None:
            with lock:
                seen.append((record.name, record.outcome.value, record.note))

    def build(ctx: StepContext) -> dict[str, Any]:
        ctx.report("task 3 of 67: Update the package index")
        return {}

    Graph([Step("ami", build)], RunRecord("a"), tmp_path / "r.json", Observer()).run()
    assert ("ami", "running", "task 3 of 67: Update the package index") in seen
    assert seen[-1][:2] == ("ami", "succeeded")


def test_broken_graphs_are_refused() -> None:
    def noop(ctx: StepContext) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="unknown"):
        check_graph([Step("a", noop, ("b",))])
    with pytest.raises(ValueError, match="cycle"):
        check_graph([Step("a", noop, ("b",)), Step("b", noop, ("a",))])


def record_of(spans: dict[str, tuple[list[str], float, float]]) -> RunRecord:
    from xal.release.graph import StepRecord

    record = RunRecord("7.1.0", started=1000.0, ended=1000.0 + max(e for _, _, e in spans.values()))
    for name, (needs, start, end) in spans.items():
        record.steps[name] = StepRecord(name, needs, Outcome.SUCCEEDED, 1000.0 + start, 1000.0 + end)
    return record


SPANS = {
    "ami": ([], 0, 3000),
    "docker": ([], 0, 900),
    "export": (["ami"], 3000, 6600),
    "copy:us-east-1": (["ami"], 3000, 4800),
    "checksums": (["export"], 6600, 7000),
    "notes": (["checksums", "copy:us-east-1", "docker"], 7000, 7010),
}


def test_critical_path_is_the_longest_chain_of_needs() -> None:
    durations = {n: e - s for n, (_, s, e) in SPANS.items()}
    path, total = critical_path(durations, {n: needs for n, (needs, _, _) in SPANS.items()})
    assert path == ["ami", "export", "checksums", "notes"]
    assert total == 7010


def test_timeline_svg_shows_every_step_with_its_duration_and_the_critical_path() -> None:
    svg = render_svg(record_of(SPANS))
    root = ET.fromstring(svg)  # noqa: S314 - our own output; well-formed SVG
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = [t.text or "" for t in root.iterfind(".//s:rect/s:title", ns)]
    assert len(titles) == len(SPANS)
    assert "export: succeeded, 1h00m from +50m00s" in titles
    critical = {
        title.split(":")[0]
        for rect in root.iterfind(".//s:rect", ns)
        if rect.get("stroke") not in (None, "none")
        for title in [rect.findtext("s:title", "", ns)]
    }
    assert critical == {"ami", "export", "checksums", "notes"}
    texts = [t.text for t in root.iterfind(".//s:text", ns)]
    assert "Release 7.1.0: wall 1h56m" in texts
    lines = text_timeline(record_of(SPANS))
    assert lines[0].startswith("* ami")
    assert lines[-1] == "wall 1h56m, steps one after the other 2h41m; * = critical path"
    assert [b.name for b in bars(record_of(SPANS))][:2] == ["ami", "docker"]
