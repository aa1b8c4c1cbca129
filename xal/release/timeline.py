"""The release as a picture: a Gantt chart of its steps with durations, the critical path marked.

People look at ``timeline.svg`` (next to the release manifest, attached to the GitHub release)
rather than read logs: which step took how long, what ran at the same time, and which chain of
steps decided the wall time. The critical path is the chain of ``needs`` with the largest summed
duration ending at any step: shortening a step on it shortens the release, shortening any other
step does not. The SVG is drawn with drawsvg (elements, escaping); the layout is here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xal.release.graph import Outcome, RunRecord, StepRecord

COLORS = {
    Outcome.SUCCEEDED: "#4c9f70",
    Outcome.REUSED: "#9fb8ad",
    Outcome.FAILED: "#d1495b",
    Outcome.STOPPED: "#edae49",
    Outcome.RUNNING: "#66a5ad",
    Outcome.SKIPPED: "#cccccc",
    Outcome.PENDING: "#cccccc",
}
CRITICAL = "#1d3557"
ROW, LABEL, WIDTH, TOP = 26, 170, 760, 46


@dataclass(frozen=True)
class Bar:
    name: str
    start: float  # seconds since the run started
    seconds: float
    outcome: Outcome
    critical: bool


def duration(rec: StepRecord, now: float) -> float:
    if rec.started is None:
        return 0.0
    return max(0.0, (rec.ended if rec.ended is not None else now) - rec.started)


def critical_path(durations: dict[str, float], needs: dict[str, Iterable[str]]) -> tuple[list[str], float]:
    """The chain of needs with the largest total duration, first step first, and that total."""
    best: dict[str, tuple[float, list[str]]] = {}

    def longest(name: str) -> tuple[float, list[str]]:
        if name not in best:
            before = max((longest(n) for n in needs[name]), default=(0.0, []), key=lambda x: x[0])
            best[name] = (before[0] + durations[name], [*before[1], name])
        return best[name]

    if not durations:
        return [], 0.0
    total, path = max((longest(n) for n in durations), key=lambda x: x[0])
    return path, total


def bars(record: RunRecord, now: float | None = None) -> list[Bar]:
    """One bar per step, in start order (steps that never ran last)."""
    now = now if now is not None else (record.ended or record.started)
    steps = record.steps
    durations = {n: duration(r, now) for n, r in steps.items()}
    path, _ = critical_path(durations, {n: r.needs for n, r in steps.items()})
    rows = [
        Bar(n, (r.started - record.started) if r.started is not None else 0.0, durations[n], r.outcome, n in path)
        for n, r in steps.items()
    ]
    return sorted(rows, key=lambda b: (steps[b.name].started is None, b.start, b.name))


def fmt_seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def text_timeline(record: RunRecord, now: float | None = None) -> list[str]:
    """The timeline as lines for a terminal or a log: start offset, duration, outcome, critical mark."""
    rows = bars(record, now)
    wall = max((b.start + b.seconds for b in rows), default=0.0)
    lines = []
    for b in rows:
        mark = "*" if b.critical else " "
        lines.append(f"{mark} {b.name:24s} +{fmt_seconds(b.start):>7s} {fmt_seconds(b.seconds):>7s}  {b.outcome.value}")
    total = sum(b.seconds for b in rows)
    lines.append(f"wall {fmt_seconds(wall)}, steps one after the other {fmt_seconds(total)}; * = critical path")
    return lines


def render_svg(record: RunRecord, now: float | None = None) -> str:
    """The Gantt chart as SVG text."""
    import drawsvg

    rows = bars(record, now)
    wall = max((b.start + b.seconds for b in rows), default=0.0) or 1.0
    height = TOP + ROW * len(rows) + 40
    scale = WIDTH / wall
    d = drawsvg.Drawing(LABEL + WIDTH + 90, height, font_family="sans-serif", font_size=12)
    d.append(drawsvg.Rectangle(0, 0, LABEL + WIDTH + 90, height, fill="white"))
    title = f"Release {record.asset_id}: wall {fmt_seconds(wall)}"
    d.append(drawsvg.Text(title, 15, 10, 20, font_weight="bold"))
    ticks = _ticks(wall)
    for t in ticks:
        x = LABEL + t * scale
        d.append(drawsvg.Line(x, TOP - 6, x, height - 34, stroke="#e0e0e0"))
        d.append(drawsvg.Text(fmt_seconds(t), 10, x, height - 20, text_anchor="middle", fill="#555"))
    for i, b in enumerate(rows):
        y = TOP + i * ROW
        d.append(drawsvg.Text(b.name, 12, 10, y + 15, font_weight="bold" if b.critical else "normal"))
        width = max(2.0, b.seconds * scale)
        bar = drawsvg.Rectangle(
            LABEL + b.start * scale,
            y + 3,
            width,
            ROW - 8,
            fill=COLORS[b.outcome],
            stroke=CRITICAL if b.critical else "none",
            stroke_width=2.5 if b.critical else 0,
            rx=3,
        )
        bar.append_title(f"{b.name}: {b.outcome.value}, {fmt_seconds(b.seconds)} from +{fmt_seconds(b.start)}")
        d.append(bar)
        label = f"{fmt_seconds(b.seconds)} {'' if b.outcome is Outcome.SUCCEEDED else b.outcome.value}".strip()
        d.append(drawsvg.Text(label, 11, LABEL + b.start * scale + width + 4, y + 15, fill="#333"))
    legend = "dark outline = critical path; green succeeded, grey-green reused, red failed, amber stopped"
    d.append(drawsvg.Text(legend, 10, 10, height - 5, fill="#555"))
    return d.as_svg()


def _ticks(wall: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if wall / step <= 10:
            return [float(t) for t in range(0, int(wall) + 1, step)]
    return [0.0, wall]


def write_svg(record: RunRecord, path: Path, now: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(record, now))
    return path
