"""``xal build-docker``: the AI-Lab Docker image from the docker source and the same playbook."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xal import defaults
from xal.config import Settings
from xal.errors import ExitCode, UsageError, XalError
from xal.image.build_log import PackerObserver
from xal.image.packer_build import run_packer_build
from xal.image.python_packages import PythonPackages, python_packages
from xal.manifest import BuildManifest, default_manifest_path
from xal.packer.binary import OnError, PackerBinary
from xal.packer.machine_readable import BuildOutcome
from xal.secrets import SecretSource, register_secret

SOURCE = "xal.docker.ai_lab_image"
# the playbook's layout (ansible/group_vars/all.yml; a test keeps them equal), as upstream's image
# exposes it to users and derived images
HOME = "/home/jupyter"
ENVIRONMENT = {
    "JUPYTER_VENV": f"{HOME}/jupyterenv",
    "NOTEBOOK_DEFAULTS": f"{HOME}/notebook-defaults",
    "NOTEBOOKS": f"{HOME}/notebooks",
}
NOTEBOOKS = ENVIRONMENT["NOTEBOOKS"]
ENTRYPOINT = ["/usr/local/bin/ai-lab-entrypoint"]
REGISTRY_USER_ENV = "DOCKER_REGISTRY_USER"
REGISTRY_PASSWORD = SecretSource("DOCKER_REGISTRY_PASSWORD")


@dataclass(frozen=True)
class RegistryCredentials:
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls) -> RegistryCredentials | None:
        """The login from DOCKER_REGISTRY_USER and DOCKER_REGISTRY_PASSWORD (registered as a secret),
        or None unless both are set."""
        user, password = os.environ.get(REGISTRY_USER_ENV), REGISTRY_PASSWORD.read()
        return cls(user, password) if user and password else None


@dataclass(frozen=True)
class DockerBuildRequest:
    """One Docker image build; checks its own values so every caller gets the same one-line errors."""

    repository: str = defaults.DOCKER_REPOSITORY
    tag: str | None = None  # default: the asset-id
    base_image: str = defaults.DOCKER_BASE_IMAGE
    pull: bool = True
    push: bool = False
    latest: bool = True  # also tag (and push) ':latest'; a test release leaves latest alone
    credentials: RegistryCredentials | None = None
    ansible_vars: dict[str, Any] = field(default_factory=dict)
    on_error: OnError = OnError.CLEANUP
    debug: bool = False
    manifest_path: Path | None = None
    observer: PackerObserver | None = field(default=None, compare=False, repr=False)  # see AmiBuildRequest
    # set by another thread to stop the build (Packer gets SIGINT and cleans up): the release graph
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_error", OnError.parse(self.on_error))
        if self.push and self.credentials is None:
            raise UsageError("--push needs registry credentials: set DOCKER_REGISTRY_USER and DOCKER_REGISTRY_PASSWORD")


def image_tags(request: DockerBuildRequest, asset_id: str) -> list[str]:
    """The version tag (default: the asset-id), then ``latest`` unless the build must not move it."""
    return [request.tag or asset_id, *(["latest"] if request.latest else [])]


def image_changes(packages: PythonPackages) -> list[str]:
    """Dockerfile instructions applied when Packer commits the container.

    ``docker run IMAGE`` starts JupyterLab; ``docker run IMAGE CMD...`` runs CMD instead (the
    entrypoint takes it as its arguments). The labels say which pins the image was built from.
    """
    labels = {"org.opencontainers.image.title": "exasol-ai-lab", **packages.labels()}
    return [
        f"ENTRYPOINT {json.dumps(ENTRYPOINT)}",
        "CMD []",
        f'VOLUME ["{NOTEBOOKS}"]',
        f"EXPOSE {defaults.JUPYTER_PORT}/tcp",
        "USER root",  # the entrypoint fixes the docker socket group, then drops to the jupyter user
        f"WORKDIR {HOME}",
        "ENV " + " ".join(f"{name}={value}" for name, value in ENVIRONMENT.items()),
        "LABEL " + " ".join(f"{name}={json.dumps(value)}" for name, value in labels.items()),
    ]


def registry_of(repository: str) -> str | None:
    """``host[:port]`` when the repository names a registry, None for Docker Hub."""
    first = repository.split("/", 1)[0]
    return first if "/" in repository and ("." in first or ":" in first or first == "localhost") else None


# what the docker source says when `docker pull` fails (Packer 1.6.6 and plugin docker 1.1), and the
# daemon's own reason, which Packer shows as a plain message just before
PULL_FAILED = "Error pulling Docker image"
_DAEMON_REASON = re.compile(r"Error response from daemon: (?P<reason>.+)")


def pull_failure(base_image: str) -> Callable[[BuildOutcome], XalError | None]:
    """Packer's "Error pulling Docker image: Bad exit status: 1" as one line naming the image, its
    registry and the ways out: a registry that cannot be reached is the usual cause (offline
    machines, Docker Hub's limits), and the build can do without it."""

    def explain(outcome: BuildOutcome) -> XalError | None:
        if not any(PULL_FAILED in line for line in [*outcome.errors, *outcome.ui_errors]):
            return None
        registry = registry_of(base_image.split("@", 1)[0]) or "Docker Hub (docker.io)"
        reasons = [m["reason"].strip() for line in outcome.recent_ui if (m := _DAEMON_REASON.search(line))]
        reason = reasons[-1] if reasons else None
        return XalError(
            f"cannot pull the base image {base_image} from {registry}"
            + (f" ({reason})" if reason else "")
            + ": build from a local image with --base-image IMAGE --no-pull (`xal prepare-local` builds"
            " Debian ones without a registry, see `docker images xal-base`), or give Docker a registry"
            ' mirror it can reach ("registry-mirrors" in /etc/docker/daemon.json)',
            ExitCode.UNREACHABLE,
        )

    return explain


def push(repository: str, tags: list[str], credentials: RegistryCredentials | None) -> None:
    """Push every tag; the password goes to ``docker login`` on stdin, never on argv."""
    if credentials is not None:
        argv = ["docker", "login", "--username", credentials.user, "--password-stdin"]
        registry = registry_of(repository)
        login = subprocess.run(
            [*argv, *([registry] if registry else [])],
            input=credentials.password,
            capture_output=True,
            text=True,
            check=False,
        )
        if login.returncode != 0:
            raise XalError(f"docker login as {credentials.user} failed: {login.stderr.strip()}")
    for tag in tags:
        result = subprocess.run(["docker", "push", f"{repository}:{tag}"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise XalError(f"docker push {repository}:{tag} failed: {result.stderr.strip()}")


def image_id(reference: str) -> str:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", reference], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise XalError(f"Packer reported {reference}, but docker does not know it: {result.stderr.strip()}")
    return result.stdout.strip()


def build_docker(settings: Settings, request: DockerBuildRequest, packer: PackerBinary | None = None) -> BuildManifest:
    if request.credentials is not None:
        register_secret(request.credentials.password)
    tags = image_tags(request, settings.asset_id)
    ansible_vars = {**request.ansible_vars, "ai_lab_target": "docker"}
    packages = python_packages(ansible_vars)
    started = time.time()
    result = run_packer_build(
        settings=settings,
        kind="docker",
        only=[SOURCE],
        variables={
            "docker_base_image": request.base_image,
            "docker_pull": request.pull,
            "docker_changes": image_changes(packages),
            "docker_repository": request.repository,
            "docker_tags": tags,
        },
        ansible_vars=ansible_vars,
        packer=packer or PackerBinary(),
        on_error=request.on_error,
        debug=request.debug,
        observer=request.observer,
        explain=pull_failure(request.base_image) if request.pull else None,
        cancel=request.cancel,
    )
    reference = f"{request.repository}:{tags[0]}"
    manifest = result.manifest(
        settings.asset_id,
        "docker",
        started,
        docker_image=image_id(reference),
        docker_tags=[f"{request.repository}:{t}" for t in tags],
        extra={"base_image": request.base_image, "python": packages.to_dict()},
    )
    if request.push:
        push(request.repository, tags, request.credentials)
        manifest.extra["pushed"] = True
    manifest.write(request.manifest_path or default_manifest_path(settings.asset_id, "docker"))
    return manifest
