"""One Packer build: prepare a build folder, check variables, run Packer with progress, collect results.

Shared by ``build-ami`` and ``build-docker`` (they differ only in the source they select and the
variables they render). The template stays the logic; this module renders values only.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xal import defaults
from xal.ansible.listing import count_playbook_tasks
from xal.aws.emulator import EMULATOR_CREDENTIALS, LOCAL_GUARD_ENV
from xal.config import Settings
from xal.errors import ExitCode, XalError
from xal.image.build_log import BuildLog, PackerObserver, QuietPackerObserver
from xal.manifest import BuildManifest, GitInfo
from xal.packer.amazon_ebs import Generation, source_file
from xal.packer.binary import OnError, PackerBinary, check_supported
from xal.packer.machine_readable import BuildOutcome
from xal.packer.plugins import install_plugins, plugin_dir
from xal.packer.variables import check_variables, declared_variables
from xal.paths import ansible_dir, packer_dir, project_root, state_dir
from xal.secrets import redact

PLAYBOOK = "ai_lab.yml"
MAX_ERRORS_SHOWN = 5
BUILD_IDENTITY_FILE = "build-identity.json"  # written by the playbook's hygiene role (EC2 variant)


@dataclass
class PackerBuildResult:
    outcome: BuildOutcome
    steps: list[dict[str, Any]]
    packer_version: str
    build_dir: Path
    log_path: Path
    seconds: float  # the whole build as xal ran it
    packer_seconds: float  # of which the packer process
    plugins: dict[str, str]  # plugin source -> version packer init installed (none on Packer 1.6.6)

    @property
    def build_identity(self) -> dict[str, Any] | None:
        """The build machine's public host keys, machine-id and authorized keys, recorded by the
        playbook before its hygiene removed them (EC2 variant only): what a booted image must not
        carry, checked by the first-boot test."""
        path = self.build_dir / BUILD_IDENTITY_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def manifest(self, asset_id: str, kind: str, started: float, **fields: Any) -> BuildManifest:
        """The build manifest of this build: what every kind records, plus the kind's ``fields``
        (``extra`` entries are added to the build folder and the Packer log)."""
        extra = {
            "build_dir": str(self.build_dir),
            "packer_log": str(self.log_path),
            "packer_plugins": self.plugins,
            **fields.pop("extra", {}),
        }
        return BuildManifest(
            asset_id=asset_id,
            kind=kind,
            git=GitInfo.of(project_root()),
            packer_version=self.packer_version,
            started_at=started,
            finished_at=time.time(),
            steps=self.steps,
            extra=extra,
            **fields,
        )


def prepare_build_dir(packer: PackerBinary, build_dir: Path) -> tuple[int, int, int]:
    """Copy the template set that fits this Packer version into ``build_dir``; returns the version."""
    version = packer.version()
    check_supported(version)
    generation = packer.generation()
    src = packer_dir()
    build_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "ai-lab.pkr.hcl", build_dir)
    shutil.copy2(source_file(src, generation), build_dir / "amazon-ebs.pkr.hcl")
    if generation is Generation.CURRENT:
        shutil.copy2(src / "plugins" / "required_plugins.pkr.hcl", build_dir)
    return version


def _write_private_json(path: Path, data: dict[str, Any]) -> Path:
    """JSON readable by the owner only: it may carry password hashes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    return path


def child_env(settings: Settings, guarded: bool = True) -> dict[str, str]:
    """Environment for Packer and the Ansible it starts: our venv first on PATH, our plugin folder,
    no phoning home. ``guarded=False`` only for ``packer init``, which must download plugins."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CHECKPOINT_DISABLE"] = "1"  # Packer's update check would call checkpoint-api.hashicorp.com
    env["PACKER_NO_COLOR"] = "1"
    env["PACKER_PLUGIN_PATH"] = str(plugin_dir())
    env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = settings.region
    if settings.aws_profile:
        env["AWS_PROFILE"] = settings.aws_profile
    if settings.endpoint_is_local:
        # rehearsal: dummy credentials, every AWS client of the plugin at the emulator, and any
        # HTTP call that is not to loopback fails at once
        env.update(EMULATOR_CREDENTIALS)
        env.pop("AWS_PROFILE", None)
        env.update(emulator_endpoints(settings.aws_endpoint_url))  # type: ignore[arg-type]
        if guarded:
            env.update(LOCAL_GUARD_ENV)
    return env


def emulator_endpoints(endpoint: str) -> dict[str, str]:
    """The AWS SDK's standard endpoint variables, for the clients ``custom_endpoint_ec2`` misses.

    Since packer-plugin-amazon 1.8.0 (AWS SDK v2) ``custom_endpoint_ec2`` reaches only the main EC2
    client (``common/access_config.go:123,473-492``); the clients that copy the AMI to other regions
    (``common/step_ami_region_copy.go:179-190``), modify its attributes
    (``step_modify_ami_attributes.go:51,59,205``) and tag it (``step_create_tags.go:49``) are built
    from the shared config alone. That config comes from aws-sdk-go-base/v2 ``GetAwsConfig``
    (``common/access_config.go:280-346``, no endpoint options set), i.e. aws-sdk-go-v2/config
    v1.30.3's ``LoadDefaultConfig`` (plugin v1.8.2 ``go.mod:88``), which reads
    ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL`` (since config v1.25). Packer 1.6.6 (SDK v1)
    ignores both and keeps using custom_endpoint_ec2.
    """
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_EC2": endpoint, "AWS_ENDPOINT_URL_STS": endpoint}


def default_variables() -> dict[str, Any]:
    """The template variables whose defaults live in :mod:`xal.defaults` (the template declares
    them without a default); every build renders all of them, whichever source it selects."""
    return {
        "region": defaults.REGION,
        "instance_type": defaults.INSTANCE_TYPE,
        "source_ami_name_filter": defaults.SOURCE_AMI_NAME_FILTER,
        "source_ami_owners": list(defaults.SOURCE_AMI_OWNERS),
        "root_volume_size_gb": defaults.ROOT_VOLUME_SIZE_GB,
        "ssh_username": defaults.SSH_USERNAME,
        "docker_base_image": defaults.DOCKER_BASE_IMAGE,
        "docker_repository": defaults.DOCKER_REPOSITORY,
    }


def run_packer_build(
    *,
    settings: Settings,
    kind: str,
    only: list[str],
    variables: dict[str, Any],
    ansible_vars: dict[str, Any],
    packer: PackerBinary,
    on_error: OnError = OnError.CLEANUP,
    debug: bool = False,
    observer: PackerObserver | None = None,
    explain: Callable[[BuildOutcome], XalError | None] | None = None,
    cancel: threading.Event | None = None,
) -> PackerBuildResult:
    """Render, check and run one build; raises XalError (with Packer's errors) when it fails.

    ``observer`` is told each step and Ansible task while Packer runs (default: nothing shown).
    ``explain`` turns a failure the caller knows (e.g. the docker source's pull) into the error a
    user can act on; other failures list Packer's own error lines.
    """
    started = time.monotonic()
    build_dir = state_dir() / "builds" / settings.asset_id / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    version = prepare_build_dir(packer, build_dir)
    all_vars = {
        **default_variables(),
        **variables,
        "asset_id": settings.asset_id,
        "playbook_file": str(ansible_dir() / PLAYBOOK),
        "ansible_config": str(ansible_dir() / "ansible.cfg"),
        "ansible_vars_file": str(
            _write_private_json(
                build_dir / "ansible-vars.json",
                {"ai_lab_hygiene_build_identity_file": str(build_dir / BUILD_IDENTITY_FILE), **ansible_vars},
            )
        ),
        "manifest_file": str(build_dir / "packer-manifest.json"),
    }
    check_variables(declared_variables(build_dir), all_vars)
    var_file = _write_private_json(build_dir / "variables.pkrvars.json", all_vars)
    env = child_env(settings)
    plugins = install_plugins(packer, build_dir, child_env(settings, guarded=False)) if packer.uses_plugins() else {}
    outcome = BuildOutcome()
    log_path = build_dir / "packer.log"

    total = count_playbook_tasks(ansible_dir() / PLAYBOOK, Path(all_vars["ansible_vars_file"]))
    with BuildLog(log_path, observer or QuietPackerObserver(), tasks_total=total) as progress:

        def on_event(event: Any) -> None:
            outcome.feed(event)
            progress(event)

        run = packer.build(build_dir, var_file, env, on_event, only=only, on_error=on_error, debug=debug, cancel=cancel)
    if run.interrupted:
        raise XalError(f"build interrupted; Packer ran its cleanup (log: {log_path})", ExitCode.INTERRUPTED)
    if run.returncode != 0 or outcome.errors:
        if explain is not None and (known := explain(outcome)) is not None:
            raise known
        reasons = outcome.ansible_failures or [
            e.strip().splitlines()[-1] for e in outcome.errors or outcome.ui_errors if e.strip()
        ]
        shown = "; ".join(dict.fromkeys(redact(r) for r in reasons[-MAX_ERRORS_SHOWN:]))
        raise XalError(f"packer build failed: {shown or 'see log'} (full log: {log_path})")
    return PackerBuildResult(
        outcome,
        progress.step_table(),
        ".".join(map(str, version)),
        build_dir,
        log_path,
        round(time.monotonic() - started, 3),
        run.seconds,
        plugins,
    )
