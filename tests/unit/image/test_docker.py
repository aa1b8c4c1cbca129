"""What the Docker build tags: its version, and latest only when the build may move it."""

from __future__ import annotations

from xal.image.docker import DockerBuildRequest, image_tags


def test_a_release_moves_latest_and_a_test_release_does_not() -> None:
    assert image_tags(DockerBuildRequest(), "7.1.0") == ["7.1.0", "latest"]
    assert image_tags(DockerBuildRequest(tag="rc-1", latest=False), "7.1.0") == ["rc-1"]


def test_build_progress_counts_tasks_of_the_playbook_total(tmp_path) -> None:
    """'task n of N': N from ansible-playbook --list-tasks of the real playbook."""
    import json

    from xal.ansible.listing import count_playbook_tasks
    from xal.image.build_log import BuildLog
    from xal.packer.machine_readable import parse_line
    from xal.paths import ansible_dir

    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"ai_lab_target": "ec2"}))
    total = count_playbook_tasks(ansible_dir() / "ai_lab.yml", vars_file)
    assert total is not None and total > 40  # every task of both plays, plus their fact gathering

    class Recorder:
        def __init__(self) -> None:
            self.tasks: list[str] = []

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def step(self, line: str, elapsed: float) -> None:
            pass

        def task(self, line: str, elapsed: float) -> None:  # noqa: ARG002 - PackerObserver
            self.tasks.append(line)

    recorder = Recorder()
    with BuildLog(tmp_path / "packer.log", recorder, tasks_total=total) as log:
        for name in ("Gathering Facts", "Update the package index"):
            line = f"1700000000,xal.amazon-ebs.ai_lab,ui,message,    xal.amazon-ebs.ai_lab: TASK [{name}] ****\n"
            event = parse_line(line)
            assert event is not None
            log(event)
    assert recorder.tasks == [
        f"task 1 of {total}: Gathering Facts",
        f"task 2 of {total}: Update the package index",
    ]
