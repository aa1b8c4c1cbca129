"""Entry point: assembles the command groups and turns expected failures into one-line errors."""

from __future__ import annotations

import sys

import typer

from xal import __version__
from xal.cli import assets, config, deploy, dev, export, firstboot, image, local, rehearsal, release
from xal.errors import ExitCode, XalError

app = typer.Typer(
    name="xal",
    help="Build and ship the Exasol AI-Lab: AMI, VM images (VMDK, VHD, RAW) and Docker image.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xal {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Build and ship the Exasol AI-Lab: AMI, VM images (VMDK, VHD, RAW) and Docker image."""


# the order in which the commands appear in --help (each module's commands in their own order)
image.register(app)
rehearsal.register(app)
firstboot.register(app)
config.register(app)
local.register(app)
assets.register(app)
dev.register(app)
export.register(app)
deploy.register(app)
release.register(app)


def _aws_error(exc: BaseException) -> tuple[str, ExitCode] | None:
    """Map botocore failures to messages; only consulted when botocore is already loaded."""
    if "botocore" not in sys.modules:
        return None
    from botocore import exceptions as bce

    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE/--aws-profile or AWS_ACCESS_KEY_ID)", ExitCode.CREDENTIALS
    if isinstance(exc, bce.ConnectionError):  # endpoint, proxy and connect-timeout failures
        return f"cannot reach AWS endpoint: {exc}", ExitCode.UNREACHABLE
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        exit_code = ExitCode.CREDENTIALS if "Credential" in code or "Token" in code else ExitCode.FAILED
        return f"AWS {exc.operation_name} failed: {code}: {error.get('Message', '')}", exit_code
    if isinstance(exc, bce.BotoCoreError):
        return f"AWS error: {exc}", ExitCode.FAILED
    return None


def run_cli(argv: list[str]) -> int:
    """Run the CLI and return the exit code; expected failures print ``error: ...`` on stderr."""
    from xal.secrets import redact

    command = typer.main.get_command(app)
    try:
        # standalone mode: click prints usage errors itself and leaves via SystemExit
        command.main(args=argv, prog_name="xal", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.FAILED
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except XalError as exc:
        typer.echo(f"error: {redact(str(exc))}", err=True)
        return exc.exit_code
    except Exception as exc:
        mapped = _aws_error(exc)
        if mapped is None:
            raise
        typer.echo(f"error: {redact(mapped[0])}", err=True)
        return mapped[1]


def main() -> None:
    sys.exit(run_cli(sys.argv[1:]))
