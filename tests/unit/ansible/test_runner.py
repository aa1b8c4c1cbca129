"""The ansible-runner proxy: files it hands over, environment, progress counts, failure messages."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from passlib.hash import sha512_crypt

from xal.ansible.runner import AnsibleTarget, PlaybookRunner, PlaybookState, clean_environment
from xal.dev.playbooks import install_dependencies, reset_password
from xal.errors import XalError
from xal.secrets import register_secret

REPO = Path(__file__).resolve().parents[3]


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": "target", **data}}


class FakeRun:
    """Stands in for ansible_runner.run: records what it was given and replays events."""

    def __init__(self, events: list[dict[str, Any]], rc: int = 0, status: str = "successful") -> None:
        self.events, self.rc, self.status = events, rc, status
        self.kwargs: dict[str, Any] = {}
        self.files: dict[str, tuple[str, int]] = {}

    def __call__(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        private = Path(kwargs["private_data_dir"])
        for path in private.rglob("*"):
            if path.is_file():
                self.files[str(path.relative_to(private))] = (path.read_text(), path.stat().st_mode & 0o777)
        for item in self.events:
            kwargs["event_handler"](item)
        return SimpleNamespace(rc=self.rc, status=self.status, stdout=None)


@pytest.fixture
def target(tmp_path: Path) -> AnsibleTarget:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nkeybody\n-----END OPENSSH PRIVATE KEY-----\n")
    return AnsibleTarget("203.0.113.5", key, 2222, "admin")


def runner(tmp_path: Path, fake: FakeRun) -> PlaybookRunner:
    return PlaybookRunner(ansible_dir=REPO / "ansible", work_root=tmp_path / "work", run_function=fake)


def test_hands_over_files_not_values(tmp_path: Path, target: AnsibleTarget) -> None:
    fake = FakeRun(
        [
            event("playbook_on_task_start", task="one"),
            event("runner_on_ok", task="one", res={"changed": True}),
            event("playbook_on_task_start", task="two"),
            event("runner_on_ok", task="two", res={"changed": False}),
            event("runner_on_skipped", task="three"),
            event("runner_on_failed", task="four", ignore_errors=True, res={"msg": "ignored"}),
        ]
    )
    result = runner(tmp_path, fake).run("reset_password.yml", target, {"ai_lab_os_password_hash": "$6$x$y"})

    assert result.counts == {"ok": 2, "changed": 1, "failed": 0, "skipped": 1}
    assert "extravars" not in fake.kwargs and "ssh_key" not in fake.kwargs
    assert fake.kwargs["envvars"]["ANSIBLE_CONFIG"] == str(REPO / "ansible" / "ansible.cfg")
    assert fake.kwargs["project_dir"] == str(REPO / "ansible") and fake.kwargs["playbook"] == "reset_password.yml"
    extravars, mode = fake.files["env/extravars"]
    assert json.loads(extravars) == {"ai_lab_os_password_hash": "$6$x$y"} and mode == 0o600
    inventory, mode = fake.files["inventory/hosts.json"]
    host = json.loads(inventory)["all"]["hosts"]["target"]
    assert mode == 0o600
    assert host["ansible_host"] == "203.0.113.5" and host["ansible_port"] == 2222 and host["ansible_user"] == "admin"
    assert host["ansible_ssh_private_key_file"] == str(target.private_key)
    assert "keybody" not in inventory  # the key's path, never its content
    assert oct(result.private_dir.stat().st_mode & 0o777) == "0o700"
    assert not (result.private_dir / "env" / "extravars").exists()  # hashes are not kept


def test_failure_names_task_host_and_message(tmp_path: Path, target: AnsibleTarget) -> None:
    fake = FakeRun(
        [
            event("playbook_on_task_start", task="Install packages"),
            event("runner_on_failed", task="Install packages", res={"msg": "No package matching 'nope'"}),
        ],
        rc=2,
        status="failed",
    )
    with pytest.raises(XalError) as caught:
        runner(tmp_path, fake).run("ai_lab.yml", target, {})
    message = str(caught.value)
    assert message.startswith("ai_lab.yml failed at task 'Install packages' on target: No package matching 'nope'")
    assert "artifacts" in message


def test_unreachable_and_secrets_in_messages_are_masked(tmp_path: Path, target: AnsibleTarget) -> None:
    register_secret("hush-hush-123")
    fake = FakeRun(
        [event("runner_on_unreachable", task="Gathering Facts", res={"msg": "ssh: hush-hush-123 refused"})],
        rc=4,
        status="failed",
    )
    with pytest.raises(XalError) as caught:
        runner(tmp_path, fake).run("ai_lab.yml", target, {})
    assert "task 'Gathering Facts (host unreachable)'" in str(caught.value)
    assert "hush-hush-123" not in str(caught.value) and "ssh: *** refused" in str(caught.value)


def test_ctrl_c_stops_the_playbook_and_restores_the_handler(tmp_path: Path, target: AnsibleTarget) -> None:
    before = signal.getsignal(signal.SIGINT)

    def interrupted(**kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # the handler only sets the event ansible-runner polls
        assert kwargs["cancel_callback"]()
        return SimpleNamespace(rc=254, status="canceled", stdout=None)

    with pytest.raises(KeyboardInterrupt):
        PlaybookRunner(REPO / "ansible", tmp_path / "work", interrupted).run("ai_lab.yml", target, {})
    assert signal.getsignal(signal.SIGINT) is before


def test_missing_key_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(XalError, match=r"SSH private key .* not found"):
        runner(tmp_path, FakeRun([])).run("ai_lab.yml", AnsibleTarget("h", tmp_path / "nope"), {})


def test_child_environment_has_no_secrets() -> None:
    register_secret("value-of-a-secret")
    env = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "PYENV_VERSION": "3.11.7",
        "XAL_DEFAULT_PASSWORD": "pw-1234",
        "XAL_HOME": "/x",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "s",
        "GITHUB_TOKEN": "t",
        "DOCKER_REGISTRY_PASSWORD": "d",
        "SOMETHING": "contains value-of-a-secret here",
    }
    assert clean_environment(env) == {"PATH": "/usr/bin", "HOME": "/root", "PYENV_VERSION": "3.11.7"}


def test_reset_password_hands_over_only_a_hash(
    tmp_path: Path, target: AnsibleTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "Clear-Text-99")
    fake = FakeRun([])
    reset_password(target, extra_vars={"ai_lab_os_user": "ignored"}, runner=runner(tmp_path, fake))
    values = json.loads(fake.files["env/extravars"][0])
    assert values["ai_lab_os_user"] == "admin"
    assert sha512_crypt.verify("Clear-Text-99", values["ai_lab_os_password_hash"])
    assert all("Clear-Text-99" not in text for text, _ in fake.files.values())
    assert "Clear-Text-99" not in json.dumps(fake.kwargs, default=str)


def test_reset_password_without_password_is_a_usage_error(tmp_path: Path, target: AnsibleTarget) -> None:
    with pytest.raises(XalError, match="XAL_DEFAULT_PASSWORD"):
        reset_password(target, runner=runner(tmp_path, FakeRun([])))


def test_install_dependencies_runs_the_configuration_only(tmp_path: Path, target: AnsibleTarget) -> None:
    from xal.config import Settings

    fake = FakeRun([])
    install_dependencies(Settings(), target, {"ai_lab_target": "docker", "x": 1}, runner=runner(tmp_path, fake))
    values = json.loads(fake.files["env/extravars"][0])
    assert values["ai_lab_target"] == "ec2" and values["x"] == 1
    assert "ai_lab_os_password_hash" not in values
    assert fake.kwargs["playbook"] == "ai_lab.yml" and fake.kwargs["cmdline"] == "--skip-tags sysprep"


class RecordingObserver:
    """A PlaybookObserver that keeps what it is told, for tests without a terminal."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, int]]] = []

    def _keep(self, kind: str, state: PlaybookState) -> None:
        self.seen.append((kind, state.task_text, dict(state.counts)))

    def started(self, state: PlaybookState) -> None:
        self._keep("started", state)

    def task_started(self, state: PlaybookState) -> None:
        self._keep("task", state)

    def updated(self, state: PlaybookState) -> None:
        self._keep("updated", state)

    def finished(self, state: PlaybookState) -> None:
        self._keep("finished", state)


def test_progress_is_reported_to_the_observer_with_secrets_masked(tmp_path: Path, target: AnsibleTarget) -> None:
    register_secret("task-secret-31")
    fake = FakeRun(
        [event("playbook_on_task_start", task="set task-secret-31"), event("runner_on_ok", res={"changed": True})]
    )
    observer = RecordingObserver()
    runner(tmp_path, fake).run("ai_lab.yml", target, {}, observer=observer)
    zero = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0}
    one = {**zero, "changed": 1}
    assert observer.seen == [
        ("started", "", zero),
        ("task", "set ***", zero),
        ("updated", "set ***", zero),
        ("updated", "set ***", one),
        ("finished", "set ***", one),
    ]


def test_the_cli_display_without_a_terminal_prints_a_line_per_task(
    tmp_path: Path, target: AnsibleTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    from xal.cli.progress import PlaybookProgress

    fake = FakeRun([event("playbook_on_task_start", task="one"), event("runner_on_skipped", task="one")])
    runner(tmp_path, fake).run("ai_lab.yml", target, {}, title="install", observer=PlaybookProgress())
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "install: starting"
    assert re.fullmatch(r"\[ +\d+\.\ds\] one", lines[1])
    assert re.fullmatch(r"install: ok=0 changed=0 failed=0 skipped=1 \(\d+\.\d s\)", lines[2])
