"""What the Docker build tags (its version, and latest only when the build may move it), and how a
failed pull of the base image reads."""

from __future__ import annotations

from xal.errors import ExitCode
from xal.image.docker import DockerBuildRequest, image_tags, pull_failure
from xal.packer.machine_readable import BuildOutcome, parse_line


def test_a_release_moves_latest_and_a_test_release_does_not() -> None:
    assert image_tags(DockerBuildRequest(), "7.1.0") == ["7.1.0", "latest"]
    assert image_tags(DockerBuildRequest(tag="rc-1", latest=False), "7.1.0") == ["rc-1"]


# What a real Packer 1.6.6 docker build printed when its base image's registry refused the
# connection (tests/integration/test_build_docker.py provokes it), as machine-readable events.
PULL_REFUSED = [
    "1795618478,xal.docker.ai_lab_image,ui,say,==> xal.docker.ai_lab_image: Pulling Docker image: {image}",
    "1795618478,xal.docker.ai_lab_image,ui,message,    xal.docker.ai_lab_image: Error response from daemon: "
    'Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused',
    "1795618478,xal.docker.ai_lab_image,ui,error,==> xal.docker.ai_lab_image: Error pulling Docker image: "
    "Bad exit status: 1",
    "1795618478,xal.docker.ai_lab_image,error,Error pulling Docker image: Bad exit status: 1",
]


def _outcome(lines: list[str]) -> BuildOutcome:
    outcome = BuildOutcome()
    for line in lines:
        event = parse_line(line)
        assert event is not None
        outcome.feed(event)
    return outcome


def test_a_refused_pull_names_image_registry_reason_and_the_ways_out() -> None:
    image = "127.0.0.1:9/xal-test/base:1"
    error = pull_failure(image)(_outcome([line.format(image=image) for line in PULL_REFUSED]))
    assert error is not None
    assert error.exit_code == ExitCode.UNREACHABLE
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"cannot pull the base image {image} from 127.0.0.1:9 (Get ")
    assert "connect: connection refused)" in message
    assert "--base-image IMAGE --no-pull" in message and "xal prepare-local" in message
    assert "registry-mirrors" in message
    assert "Bad exit status" not in message


def test_docker_hub_images_name_docker_hub() -> None:
    lines = [line.format(image="ubuntu:22.04") for line in PULL_REFUSED if "daemon" not in line]
    message = str(pull_failure("ubuntu:22.04")(_outcome(lines)))
    assert message.startswith("cannot pull the base image ubuntu:22.04 from Docker Hub (docker.io): build from")


def test_other_failures_keep_packers_own_message() -> None:
    failed = ["1795618478,xal.docker.ai_lab_image,error,Error executing Ansible: Non-zero exit status: exit status 2"]
    assert pull_failure("ubuntu:22.04")(_outcome(failed)) is None


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
