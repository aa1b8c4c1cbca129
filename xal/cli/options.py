"""Options shared by many commands, declared once.

Single options are ``Annotated`` types. Options that always travel together (the settings, the
export options, the SSH communicator overrides) are an :class:`OptionGroup`: a function whose
parameters are the options and whose result is the one library value they describe. A command
asks for that value by a parameter annotated with the group (``settings: Annotated[Settings,
SETTINGS]``); :func:`command` puts the group's options into the command's signature for Typer and
hands the command the built value. Help texts therefore cannot drift apart between commands.

This module deliberately has no ``from __future__ import annotations``: a group function's
parameter annotations must be real objects when the group is expanded, while its return
annotation may stay a quoted name (the library type is imported only when the group runs, which
keeps ``xal --help`` fast).
"""

import builtins
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

import typer

from xal import defaults
from xal.config import Settings, load_settings
from xal.naming import VmFormat
from xal.packer.amazon_ebs import SshInterface

E = TypeVar("E", bound=Enum)

AWS_PANEL = "AWS options"
BUILD_PANEL = "Build options"
COMM_PANEL = "Communicator overrides (debugging, rehearsals)"
EXPORT_PANEL = "Export options"


def enum_choice(enum: type[E], what: str) -> dict[str, Any]:
    """``typer.Option`` arguments for a case-insensitive choice of ``enum``'s values: the metavar
    lists them in ``--help``, a bad value is one line naming the choices (exit code 2)."""
    names = [str(m.value) for m in enum]

    def parse(value: Any) -> E:
        if isinstance(value, enum):
            return value
        for member in enum:
            if str(value).lower() == str(member.value).lower():
                return member
        raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(names)}")

    return {"parser": parse, "metavar": f"[{'|'.join(names)}]"}


# -- single options --------------------------------------------------------------------------------
AwsProfile = Annotated[
    str | None,
    typer.Option(
        "--aws-profile", help="AWS profile name (default: boto3's credential chain).", rich_help_panel=AWS_PANEL
    ),
]
Region = Annotated[
    str | None,
    typer.Option("--region", help=f"AWS region [default: {defaults.REGION}].", rich_help_panel=AWS_PANEL),
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--aws-endpoint-url",
        help="Send every AWS call to this endpoint (a local emulator such as moto).",
        rich_help_panel=AWS_PANEL,
    ),
]
AssetId = Annotated[
    str | None,
    typer.Option("--asset-id", help="Identifies everything one release creates [default: the xal version]."),
]
LogLevel = Annotated[str | None, typer.Option("--log-level", help="normal | info | debug [default: normal].")]
Json = Annotated[bool | None, typer.Option("--json/--no-json", help="Print data as JSON on stdout.")]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="Settings file [default: ./xal.toml when present, or $XAL_CONFIG].")
]
PlaybookVars = Annotated[
    Path | None,
    typer.Option(
        "--playbook-vars",
        help="YAML/JSON file with extra playbook variables (versions, package lists).",
        rich_help_panel=BUILD_PANEL,
    ),
]
ManifestOut = Annotated[
    Path | None,
    typer.Option(
        "--manifest",
        help="Where to write the build manifest JSON [default: .xal/builds/ASSET-ID/KIND-manifest.json].",
        rich_help_panel=BUILD_PANEL,
    ),
]
OnError = Annotated[
    str,
    typer.Option(
        "--on-error",
        help="When a build step fails: cleanup (default), abort (keep everything for inspection) or ask.",
        rich_help_panel=BUILD_PANEL,
    ),
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Run Packer in debug mode: pause before each step (needs a terminal).",
        rich_help_panel=BUILD_PANEL,
    ),
]
InstanceType = Annotated[str, typer.Option(help="Build instance type.", rich_help_panel=BUILD_PANEL)]
SourceAmi = Annotated[
    str | None,
    typer.Option(
        help="Explicit source AMI id [default: newest Canonical Ubuntu 24.04 amd64].", rich_help_panel=BUILD_PANEL
    ),
]
SourceAmiFilter = Annotated[
    str | None,
    typer.Option(
        help=f"Name filter for the source AMI search [default: {defaults.SOURCE_AMI_NAME_FILTER}].",
        rich_help_panel=BUILD_PANEL,
    ),
]


# -- groups ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptionGroup:
    """Options that travel together, and the function that turns their values into one object."""

    build: Callable[..., Any]
    omit: frozenset[str] = frozenset()
    overrides: tuple[tuple[str, Any], ...] = ()

    def without(self, *names: str) -> "OptionGroup":
        """The same group minus some options (a command that has no use for them)."""
        unknown = set(names) - set(inspect.signature(self.build).parameters)
        if unknown:
            raise TypeError(f"{self.build.__name__} has no option(s) {sorted(unknown)}")
        return OptionGroup(self.build, self.omit | set(names), self.overrides)

    def defaults(self, **values: Any) -> "OptionGroup":
        """The same group with other defaults (e.g. a longer timeout for a slower command)."""
        return OptionGroup(self.build, self.omit, (*self.overrides, *values.items()))

    def parameters(self) -> list[inspect.Parameter]:
        overrides = dict(self.overrides)
        params = [p for p in inspect.signature(self.build).parameters.values() if p.name not in self.omit]
        strings = [p.name for p in params if isinstance(p.annotation, str)]
        if strings:
            raise TypeError(f"{self.build.__name__}: define it in a module without postponed annotations ({strings})")
        return [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY, default=overrides.get(p.name, p.default)) for p in params
        ]

    def __call__(self, values: dict[str, Any]) -> Any:
        return self.build(**values)


def _group_of(annotation: Any) -> "OptionGroup | None":
    if get_origin(annotation) is Annotated:
        return next((a for a in get_args(annotation)[1:] if isinstance(a, OptionGroup)), None)
    return None


class _TypeCheckingNames(dict):
    """Names imported only under TYPE_CHECKING (library types of group values) resolve to Any."""

    def __missing__(self, key: str) -> Any:
        return getattr(builtins, key, Any)


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Expand every ``Annotated[T, <OptionGroup>]`` parameter of ``func`` into the group's options.

    Typer sees the expanded signature; at call time each group's values are built into its object
    (settings first, so logging is set up before anything else runs) and passed to ``func``.
    """
    signature = inspect.signature(func, eval_str=True, locals=_TypeCheckingNames(func.__globals__))
    groups: dict[str, tuple[OptionGroup, list[str]]] = {}
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        group = _group_of(param.annotation)
        if group is None:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        expanded = group.parameters()
        clash = {p.name for p in expanded} & {p.name for p in params}
        if clash:
            raise TypeError(f"{func.__name__}: options {sorted(clash)} given twice")
        groups[param.name] = (group, [p.name for p in expanded])
        params.extend(expanded)

    @functools.wraps(func)
    def wrapper(**values: Any) -> Any:
        built = {name: group({n: values.pop(n) for n in names}) for name, (group, names) in groups.items()}
        return func(**values, **built)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer must read the expanded signature, not func's
    return wrapper


def _settings(
    config: ConfigFile = None,
    aws_profile: AwsProfile = None,
    region: Region = None,
    aws_endpoint_url: EndpointUrl = None,
    asset_id: AssetId = None,
    log_level: LogLevel = None,
    json: Json = None,
) -> Settings:
    """Settings from CLI values (None = not given) over env and config file; sets up logging."""
    from xal.console import setup_logging

    settings = load_settings(
        {
            "aws_profile": aws_profile,
            "region": region,
            "aws_endpoint_url": aws_endpoint_url,
            "asset_id": asset_id,
            "log_level": log_level,
            "json": json,
        },
        config_file=config,
    )
    setup_logging(settings.log_level)
    return settings


SETTINGS = OptionGroup(_settings)
AWS_OPTIONS = ("aws_profile", "region", "aws_endpoint_url")
LOCAL_SETTINGS = SETTINGS.without(*AWS_OPTIONS)  # commands that never call AWS
LOG_ONLY = SETTINGS.without("config", *AWS_OPTIONS, "asset_id", "json")  # commands on a host, not an asset


def _ami_build(
    instance_type: InstanceType = defaults.INSTANCE_TYPE,
    source_ami: SourceAmi = None,
    source_ami_filter: SourceAmiFilter = None,
    on_error: OnError = "cleanup",
    debug: Debug = False,
    manifest: ManifestOut = None,
    ssh_host: Annotated[
        str | None,
        typer.Option(
            help="Connect here instead of the instance's address; must be loopback with a local --aws-endpoint-url.",
            rich_help_panel=COMM_PANEL,
        ),
    ] = None,
    ssh_port: Annotated[
        int | None, typer.Option(help=f"SSH port [default: {defaults.SSH_PORT}].", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_username: Annotated[
        str | None, typer.Option(help=f"Login user [default: {defaults.SSH_USERNAME}].", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_keypair_name: Annotated[
        str | None, typer.Option(help="Existing EC2 key pair [default: a temporary one].", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_private_key_file: Annotated[
        Path | None, typer.Option(help="Private key of --ssh-keypair-name.", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_cidr: Annotated[
        str | None,
        typer.Option(
            help="Who may reach port 22 of the build instance [default: this machine's public address /32].",
            rich_help_panel=BUILD_PANEL,
        ),
    ] = None,
    ssh_interface: Annotated[
        SshInterface | None,
        typer.Option(
            help="How Packer reaches the instance; session_manager needs no inbound rule (Packer >= 1.7).",
            rich_help_panel=BUILD_PANEL,
            **enum_choice(SshInterface, "SSH interface"),
        ),
    ] = None,
) -> "AmiBuildRequest":  # noqa: F821 - imported when the group runs
    """The AMI build options of build-ami and create-vm (the playbook variables come separately)."""
    from xal.cli.progress import PackerBuildProgress
    from xal.image.ami import AmiBuildRequest, Communicator

    return AmiBuildRequest(
        instance_type=instance_type,
        source_ami=source_ami,
        source_ami_name_filter=source_ami_filter,
        on_error=on_error,
        debug=debug,
        manifest_path=manifest,
        communicator=Communicator.from_options(
            ssh_username, ssh_host, ssh_port, ssh_keypair_name, ssh_private_key_file, ssh_interface, ssh_cidr
        ),
        observer=PackerBuildProgress(),
    )


AMI_BUILD = OptionGroup(_ami_build)


def _export(
    vm_format: Annotated[
        list[VmFormat] | None,
        typer.Option(
            "--format",
            help="VMDK, VHD or RAW (repeatable) [default: VHD and VMDK].",
            **enum_choice(VmFormat, "VM format"),
            rich_help_panel=EXPORT_PANEL,
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(help="VM bucket [default: output VMBucketId of the bucket stack].", rich_help_panel=EXPORT_PANEL),
    ] = None,
    role_name: Annotated[
        str | None,
        typer.Option(
            help="VM export service role [default: output VMExportRoleId of the bucket stack].",
            rich_help_panel=EXPORT_PANEL,
        ),
    ] = None,
    cdn_domain: Annotated[
        str | None,
        typer.Option(
            help="CloudFront domain for the image URLs [default: output CfDistributionDomainName].",
            rich_help_panel=EXPORT_PANEL,
        ),
    ] = None,
    max_active: Annotated[
        int,
        typer.Option(
            "--max-active", help="Export tasks active at once per region (AWS allows 5).", rich_help_panel=EXPORT_PANEL
        ),
    ] = defaults.MAX_ACTIVE_EXPORTS_PER_REGION,
    poll_interval: Annotated[
        float, typer.Option(help="First poll interval in seconds; it grows by 1.5x.", rich_help_panel=EXPORT_PANEL)
    ] = defaults.EXPORT_POLL_INITIAL_SECONDS,
    poll_max_interval: Annotated[
        float, typer.Option(help="Longest poll interval in seconds.", rich_help_panel=EXPORT_PANEL)
    ] = defaults.EXPORT_POLL_MAX_SECONDS,
    timeout: Annotated[
        float,
        typer.Option(
            help="Stop waiting for a task after this many seconds (it keeps running; re-run to resume).",
            rich_help_panel=EXPORT_PANEL,
        ),
    ] = defaults.EXPORT_TIMEOUT_SECONDS,
    part_size_mib: Annotated[
        int,
        typer.Option(
            help=f"Part size of the S3 multipart copy, MiB (min {defaults.MIN_PART_SIZE_MIB}).",
            rich_help_panel=EXPORT_PANEL,
        ),
    ] = defaults.PART_SIZE_MIB,
    siblings: Annotated[
        bool,
        typer.Option(
            "--siblings/--no-siblings",
            help="Export the formats of one AMI at once, each from a short-lived sibling AMI on the same "
            "snapshots (RegisterImage); --no-siblings: one format after the other.",
            rich_help_panel=EXPORT_PANEL,
        ),
    ] = True,
    manifest: ManifestOut = None,
) -> "ExportRequest":  # noqa: F821 - imported when the group runs
    """The export options of export, create-vm and export-vm (which AMIs comes separately)."""
    from xal.cli.progress import ExportProgress
    from xal.export.pipeline import ExportRequest
    from xal.export.rename import MIB
    from xal.export.tasks import PollPolicy

    return ExportRequest(
        formats=tuple(vm_format or ()),
        bucket=bucket,
        role_name=role_name,
        cdn_domain=cdn_domain,
        max_active_per_region=max_active,
        poll=PollPolicy(initial=poll_interval, maximum=poll_max_interval, timeout=timeout),
        part_size=part_size_mib * MIB,
        siblings=siblings,
        manifest_path=manifest,
        observer=ExportProgress(),
    )


EXPORT = OptionGroup(_export)


DEPLOY_PANEL = "Deploy options"


def _deploy(
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Execute the change set without asking.", rich_help_panel=DEPLOY_PANEL),
    ] = False,
    replace_failed: Annotated[
        bool,
        typer.Option(
            "--replace-failed",
            help="If the stack's first creation failed (ROLLBACK_COMPLETE), delete it and create it again.",
            rich_help_panel=DEPLOY_PANEL,
        ),
    ] = False,
    timeout_minutes: Annotated[
        float,
        typer.Option(
            "--timeout-minutes", help="Give up waiting for the stack after this long.", rich_help_panel=DEPLOY_PANEL
        ),
    ] = defaults.DEPLOY_TIMEOUT_MINUTES,
) -> "DeployOptions":  # noqa: F821 - imported when the group runs
    """How every deploy-* command changes its stack."""
    from xal.deploy.changeset import DeployOptions

    return DeployOptions(yes=yes, replace_failed=replace_failed, timeout_minutes=timeout_minutes)


DEPLOY = OptionGroup(_deploy)


RELEASE_BUILD_PANEL = "Release build options"
GITHUB_PANEL = "GitHub options"


def _release_build(
    make_ami_public: Annotated[
        bool,
        typer.Option(
            "--make-ami-public/--no-make-ami-public",
            help="Whether the build makes the AMI public.",
            rich_help_panel=RELEASE_BUILD_PANEL,
        ),
    ] = False,
    ami_region: Annotated[
        list[str] | None,
        typer.Option(
            "--ami-region",
            help="The build copies the AMI to this region too (repeatable).",
            rich_help_panel=RELEASE_BUILD_PANEL,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="CodeBuild project [default: output ProjectName of stack XAL-RELEASE-CODEBUILD].",
            rich_help_panel=RELEASE_BUILD_PANEL,
        ),
    ] = None,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", help="Seconds between build status checks.", rich_help_panel=RELEASE_BUILD_PANEL
        ),
    ] = defaults.RELEASE_POLL_SECONDS,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Stop following after this many seconds (the build keeps running) and fail.",
            rich_help_panel=RELEASE_BUILD_PANEL,
        ),
    ] = defaults.RELEASE_TIMEOUT_SECONDS,
) -> "BuildOptions":  # noqa: F821 - imported when the group runs
    """How the release build in CodeBuild runs and is followed."""
    from xal.release.codebuild import FollowPolicy
    from xal.release.flows import BuildOptions

    return BuildOptions(make_ami_public, tuple(ami_region or ()), project, FollowPolicy(poll_interval, timeout))


RELEASE_BUILD = OptionGroup(_release_build)


def _github(
    repository: Annotated[
        str,
        typer.Option(
            "--repository",
            envvar="XAL_GITHUB_REPOSITORY",
            help="GitHub repository OWNER/REPO.",
            rich_help_panel=GITHUB_PANEL,
        ),
    ] = defaults.GITHUB_REPOSITORY,
    github_api_url: Annotated[
        str,
        typer.Option(
            "--github-api-url", envvar="XAL_GITHUB_API_URL", help="GitHub REST API URL.", rich_help_panel=GITHUB_PANEL
        ),
    ] = defaults.GITHUB_API_URL,
) -> "GitHubTarget":  # noqa: F821 - imported when the group runs
    """Which GitHub repository the release commands talk to (token: GH_TOKEN or GITHUB_TOKEN)."""
    from xal.release.flows import GitHubTarget

    return GitHubTarget(repository, github_api_url)


GITHUB = OptionGroup(_github)
