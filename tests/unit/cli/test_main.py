import json
import subprocess
import sys

import pytest

from xal import __version__
from xal.cli.main import run_cli
from xal.errors import ExitCode


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"xal {__version__}"
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    for panel in ("Development", "show-config"):
        assert panel in out


def test_show_config_json_reflects_options_and_env(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAL_REGION", "us-east-2")
    assert run_cli(["show-config", "--json", "--asset-id", "7.0.0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["asset_id"] == "7.0.0"
    assert data["region"] == "us-east-2"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show-config", "--asset-id", "bad id"], ExitCode.USAGE, "error: invalid asset-id 'bad id'"),
        (["show-config", "--log-level", "loud"], ExitCode.USAGE, "error: invalid log level 'loud'"),
        (["show-config", "--no-such-option"], ExitCode.USAGE, "No such option"),
        (["no-such-command"], ExitCode.USAGE, "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_code(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(argv) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_console_script_runs_as_a_process() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from xal.cli.main import main; main()", "show-config", "--asset-id", "a/b"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.strip().startswith("error: invalid asset-id")
    assert "Traceback" not in result.stderr


def test_help_does_not_import_heavy_libraries() -> None:
    probe = (
        "import sys; from xal.cli.main import run_cli; run_cli(['--help']);"
        "heavy = ('boto3', 'botocore', 'github', 'ansible_runner', 'hcl2', 'moto');"
        "print('LOADED:' + ','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "LOADED:"
