"""What xal hands a current Packer (1.16): argv, environment and files of `packer init` and `packer build`.

The packer here is a stand-in executable that reports v1.16.0, records every call, installs fake
plugin binaries on init and replays the synthetic >= 1.13 transcript on build: current Packer
cannot be installed on this machine, and the point is xal's side of the contract.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from xal.aws.emulator import LOCAL_GUARD_ENV
from xal.config import Settings
from xal.errors import XalError
from xal.image.ami import AmiBuildRequest, Communicator, build_ami
from xal.packer.amazon_ebs import Generation, render
from xal.packer.binary import PackerBinary

DATA = Path(__file__).resolve().parents[1] / "packer" / "data"
ENDPOINT = "http://127.0.0.1:9"
FAKE = f"""#!{sys.executable}
import json, os, sys
from pathlib import Path
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}) + "\\n")
if sys.argv[1] == "version":
    print("Packer v1.16.0")
elif sys.argv[1] == "init" and os.environ.get("FAKE_OFFLINE"):
    sys.exit("Failed getting the docker plugin: dial tcp: proxyconnect tcp: connection refused")
elif sys.argv[1] == "init":
    for name, version in (("amazon", "1.8.2"), ("ansible", "1.1.6"), ("docker", "1.1.4")):
        folder = Path(os.environ["PACKER_PLUGIN_PATH"]) / "github.com" / "hashicorp" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"packer-plugin-{{name}}_v{{version}}_x5.0_linux_amd64").write_text("")
elif sys.argv[1] == "build":
    print(Path(os.environ["FAKE_TRANSCRIPT"]).read_text(), end="")
"""


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CALLS", str(log))
    monkeypatch.setenv("FAKE_TRANSCRIPT", str(DATA / "packer_ami_build_1.13.out"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:19")  # the test's own guard, told apart from xal's
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "Build-Secret-42")
    return log


def _fake_packer(tmp_path: Path) -> PackerBinary:
    fake = tmp_path / "packer"
    fake.write_text(FAKE)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return PackerBinary(str(fake))


def test_current_packer_gets_plugins_before_the_guard_and_every_endpoint_at_the_emulator(
    tmp_path: Path, calls: Path
) -> None:
    settings = Settings(asset_id="cur-1", aws_endpoint_url=ENDPOINT)
    request = AmiBuildRequest(communicator=Communicator(ssh_host="127.0.0.1", ssh_port=2222))
    manifest = build_ami(settings, request, packer=_fake_packer(tmp_path))

    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [c["argv"][0] for c in recorded if c["argv"][0] != "version"] == ["init", "build"]
    init, build = (next(c for c in recorded if c["argv"][0] == kind) for kind in ("init", "build"))
    build_dir = Path(build["cwd"])
    assert init["argv"] == ["init", "."] and init["cwd"] == build["cwd"]
    assert build["argv"][:2] == ["build", "-machine-readable"]
    assert f"-var-file={build_dir / 'variables.pkrvars.json'}" in build["argv"]
    assert "-only=xal.amazon-ebs.ai_lab" in build["argv"]
    plugin_path = str(Path(manifest.extra["build_dir"]).parents[2] / "packer-plugins")
    for call in recorded:
        assert call["env"]["CHECKPOINT_DISABLE"] == "1", call["argv"]
    for call in (init, build):
        assert call["env"]["PACKER_PLUGIN_PATH"] == plugin_path
    # init may download: xal adds no guard to it; the build runs behind xal's guard
    assert init["env"]["HTTPS_PROXY"] == "http://127.0.0.1:19"
    assert {k: build["env"][k] for k in LOCAL_GUARD_ENV} == LOCAL_GUARD_ENV
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
        assert build["env"][name] == ENDPOINT  # region copies, attributes and tags go to the emulator too

    files = {p.name for p in build_dir.iterdir()}
    assert {"ai-lab.pkr.hcl", "amazon-ebs.pkr.hcl", "required_plugins.pkr.hcl"} <= files
    assert (build_dir / "amazon-ebs.pkr.hcl").read_text() == render(Generation.CURRENT)
    variables = json.loads((build_dir / "variables.pkrvars.json").read_text())
    assert (variables["ssh_source_cidrs"], variables["ssh_source_public_ip"]) == (["127.0.0.1/32"], False)
    assert (build_dir / "ansible-vars.json").stat().st_mode & 0o777 == 0o600

    assert manifest.packer_version == "1.16.0"
    assert manifest.amis == {"eu-central-1": "ami-85afc80cfbb9dbfd3", "us-east-1": "ami-73d5a07a3bafd0c61"}
    assert manifest.extra["packer_plugins"] == {
        "github.com/hashicorp/amazon": "1.8.2",
        "github.com/hashicorp/ansible": "1.1.6",
        "github.com/hashicorp/docker": "1.1.4",
    }
    assert [s["step"] for s in manifest.steps if s["step"].startswith(("TASK", "ok:", "PLAY"))] == []


def test_init_that_cannot_download_names_the_missing_plugins(
    tmp_path: Path, calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_OFFLINE", "1")
    settings = Settings(asset_id="cur-2", aws_endpoint_url=ENDPOINT)
    request = AmiBuildRequest(communicator=Communicator(ssh_host="127.0.0.1", ssh_port=2222))
    with pytest.raises(XalError) as info:
        build_ami(settings, request, packer=_fake_packer(tmp_path))
    message = str(info.value)
    assert "github.com/hashicorp/docker ~> 1.1.0" in message and "github.com/hashicorp/amazon ~> 1.8.0" in message
    assert "packer-plugins" in message and "\n" not in message
