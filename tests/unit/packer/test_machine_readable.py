"""The machine-readable parser on output recorded from real Packer 1.6.6 runs against moto."""

from __future__ import annotations

from pathlib import Path

from xal.packer.machine_readable import BuildOutcome, ansible_task_of, parse_line, step_of, unescape

DATA = Path(__file__).parent / "data"


def _outcome(name: str) -> BuildOutcome:
    outcome = BuildOutcome()
    for line in (DATA / name).read_text().splitlines():
        event = parse_line(line)
        if event is not None:
            outcome.feed(event)
    return outcome


def test_successful_build_yields_ami_per_region_and_source_ami() -> None:
    outcome = _outcome("packer_ami_build.out")
    assert outcome.amis() == {"eu-central-1": "ami-85afc80cfbb9dbfd3", "us-east-1": "ami-73d5a07a3bafd0c61"}
    assert outcome.source_amis == {"ami-785db401"}
    assert outcome.errors == []
    art = outcome.artifacts["xal.amazon-ebs.ai_lab"]
    assert art.builder_id == "mitchellh.amazonebs"
    assert "AMIs were created:\neu-central-1: ami-85afc80cfbb9dbfd3" in art.string


def test_failed_build_names_the_ansible_task_and_its_message() -> None:
    outcome = _outcome("packer_ami_failed.out")
    assert outcome.amis() == {}
    assert outcome.ansible_failures == ["task 'Break on purpose' failed: non-zero return code"]
    assert outcome.errors == ["Error executing Ansible: Non-zero exit status: exit status 2"]
    assert any("errored after" in e for e in outcome.ui_errors)


def test_line_parsing_and_unescaping() -> None:
    event = parse_line("1795618478,xal.docker.ai_lab,artifact,0,id,a%!(PACKER_COMMA)b\n")
    assert event is not None
    assert (event.timestamp, event.target, event.kind, event.data) == (
        1795618478,
        "xal.docker.ai_lab",
        "artifact",
        ("0", "id", "a,b"),
    )
    assert parse_line("not machine readable") is None
    assert parse_line("") is None
    assert unescape("x\\ny%!(PACKER_COMMA)z") == "x\ny,z"


def test_step_and_task_extraction() -> None:
    assert step_of("==> xal.amazon-ebs.ai_lab: Creating AMI Exasol-AI-Lab-1 from instance i-1") == (
        "xal.amazon-ebs.ai_lab",
        "Creating AMI Exasol-AI-Lab-1 from instance i-1",
    )
    assert step_of("    xal.amazon-ebs.ai_lab: ok: [default]") is None
    assert ansible_task_of("    xal.docker.ai_lab: TASK [ai_lab_jupyter : Install JupyterLab] ****") == (
        "ai_lab_jupyter : Install JupyterLab"
    )
    assert ansible_task_of("PLAY RECAP") is None


def test_post_processor_artifact_replaces_builder_artifact() -> None:
    outcome = BuildOutcome()
    for line in [
        "1,xal.docker.ai_lab,artifact,0,builder-id,packer.docker",
        "1,xal.docker.ai_lab,artifact,0,id,sha256:abc",
        "2,xal.docker.ai_lab,artifact,1,builder-id,packer.post-processor.docker-tag",
        "2,xal.docker.ai_lab,artifact,1,id,exasol/ai-lab:latest",
    ]:
        event = parse_line(line)
        assert event is not None
        outcome.feed(event)
    art = outcome.artifacts["xal.docker.ai_lab"]
    assert (art.builder_id, art.id) == ("packer.post-processor.docker-tag", "exasol/ai-lab:latest")
    assert outcome.amis() == {}


class RecordingPackerObserver:
    """A PackerObserver that keeps the lines it is told and whether Packer was running."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.open = False

    def __enter__(self) -> RecordingPackerObserver:
        self.open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.open = False

    def step(self, line: str, elapsed: float) -> None:
        assert self.open and elapsed >= 0
        self.lines.append(("step", line))

    def task(self, line: str, elapsed: float) -> None:
        assert self.open and elapsed >= 0
        self.lines.append(("task", line))


def test_build_log_reports_steps_and_tasks_to_the_observer_masked(tmp_path: Path) -> None:
    from xal.image.build_log import BuildLog
    from xal.secrets import register_secret

    register_secret("Exasol-AI-Lab-rec-1")  # stands in for a secret in Packer's output
    observer = RecordingPackerObserver()
    with BuildLog(tmp_path / "packer.log", observer) as build_log:
        for line in (DATA / "packer_ami_build.out").read_text().splitlines():
            event = parse_line(line)
            if event is not None:
                build_log(event)
    assert not observer.open
    kinds = [kind for kind, _ in observer.lines]
    assert kinds.count("step") == len(build_log.steps) > 1
    assert "task" in kinds
    assert all("Exasol-AI-Lab-rec-1" not in line for _, line in observer.lines)
    assert any("***" in line for _, line in observer.lines)
    assert "Exasol-AI-Lab-rec-1" not in (tmp_path / "packer.log").read_text()


def _transcript(name: str, tmp_path: Path) -> tuple[BuildOutcome, list[tuple[str, str]], list[dict]]:
    """Drive the real build log (progress display + the manifest's steps) and outcome with a transcript."""
    from xal.image.build_log import BuildLog

    outcome, observer = BuildOutcome(), RecordingPackerObserver()
    with BuildLog(tmp_path / f"{name}.log", observer) as build_log:
        for line in (DATA / name).read_text().splitlines():
            if (event := parse_line(line)) is not None:
                outcome.feed(event)
                build_log(event)
    return outcome, observer.lines, build_log.step_table()


def test_both_ui_generations_drive_progress_and_manifest_alike(tmp_path: Path) -> None:
    """Packer 1.6.6 (recorded) and >= 1.13 (synthetic: every ui message arrives as say) agree."""
    old, old_lines, old_steps = _transcript("packer_ami_build.out", tmp_path)
    new, new_lines, new_steps = _transcript("packer_ami_build_1.13.out", tmp_path)
    assert new.amis() == old.amis() == {"eu-central-1": "ami-85afc80cfbb9dbfd3", "us-east-1": "ami-73d5a07a3bafd0c61"}
    assert new.source_amis == old.source_amis == {"ami-785db401"}
    tasks = [line for kind, line in old_lines if kind == "task"]
    assert tasks == [line for kind, line in new_lines if kind == "task"]
    assert [t.split(": ")[-1] for t in tasks] == ["Gathering Facts", "Marker"]  # the progress advances
    # no playbook line is taken for a Packer step, in either generation
    playbook = ("PLAY", "TASK [", "ok: [", "changed: [", "default ", "[WARNING]")
    assert not [s for s in old_steps + new_steps if s["step"].startswith(playbook)]
    # >= 1.13 also says Packer's own detail messages ("Instance ID: ..."); every 1.6.6 step is there, in order
    remaining = iter(s["step"] for s in new_steps)
    assert all(any(step == s for s in remaining) for step in (s["step"] for s in old_steps))
    provisioning = [s["step"] for s in new_steps]
    assert (
        provisioning.index("Stopping the source instance...")
        == provisioning.index(next(s for s in provisioning if s.startswith("Executing Ansible"))) + 1
    )  # the step after the playbook is Packer's next one: the recap ended the playbook
