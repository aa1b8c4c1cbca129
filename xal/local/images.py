"""Local Debian base images built from Debian packages, never pulled from a registry.

Docker Hub is not reachable everywhere xal runs (CI sandboxes, air-gapped build hosts), so the
offline rehearsal and the tests build their own images with ``mmdebstrap | docker import``.
The host's extra CA certificates are baked in, because containers otherwise cannot reach
package registries through a TLS-intercepting proxy. Each image carries a label with the hash
of its recipe (packages, suite, certificates): an image whose label matches is reused, so the
17 s bootstrap runs once per machine and again only when the recipe changes.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from xal.ca_certs import CaBundle
from xal.config import Settings
from xal.errors import XalError

log = logging.getLogger(__name__)

# shows ``text`` while the work inside the context runs (a bootstrap takes minutes the first time)
Activity = Callable[[str], AbstractContextManager[object]]


@contextmanager
def log_activity(text: str) -> Iterator[None]:
    """The library default: the activity goes to the log, nothing is shown."""
    log.info("%s", text)
    yield


RECIPE_LABEL = "org.exasol.xal.recipe"
DEFAULT_SUITE = "bookworm"


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into a local image; its hash decides whether a cached image is still good."""

    repository: str
    suite: str = DEFAULT_SUITE
    packages: tuple[str, ...] = ("python3", "sudo", "ca-certificates")
    cmd: tuple[str, ...] = ()
    ca_bundle: CaBundle = field(default_factory=CaBundle.empty)
    files: tuple[tuple[str, str], ...] = ()  # (absolute path in the image, content)

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.suite}"

    def digest(self) -> str:
        h = hashlib.sha256()
        files = [f"{path}\0{content}" for path, content in self.files]
        for part in (self.suite, *self.packages, "|", *self.cmd, "|", self.ca_bundle.fingerprint(), *files):
            h.update(part.encode() + b"\0")
        return h.hexdigest()[:16]


def base_recipe(ca_bundle: CaBundle) -> ImageRecipe:
    """Plain Debian with python3 and sudo: what Ansible needs on a target."""
    return ImageRecipe(repository="xal-base", ca_bundle=ca_bundle)


def sshd_recipe(ca_bundle: CaBundle) -> ImageRecipe:
    """Debian with sshd: stands in for the EC2 instance Packer would launch."""
    return ImageRecipe(
        repository="xal-sshd",
        packages=("python3", "sudo", "ca-certificates", "openssh-server"),
        cmd=("/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"),
        ca_bundle=ca_bundle,
    )


# What the playbook meets on an Ubuntu cloud image (AWS's Canonical AMIs) and must deal with.
CLOUD_CFG = """# as on Ubuntu cloud images: the default user has no password until the image sets one
system_info:
  default_user:
    name: ubuntu
    lock_passwd: True
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
"""
CLOUDIMG_SSHD = "# as on Ubuntu cloud images (22.04 and later): no password logins\nPasswordAuthentication no\n"


def machine_recipe() -> ImageRecipe:
    """Debian with systemd as PID 1, sshd and netplan: stands in for the EC2 instance as a machine.

    Where the playbook cares it looks like an Ubuntu cloud image (cloud.cfg with a locked default
    user, sshd_config.d forbidding passwords, netplan), so the playbook's systemd path runs for real.
    Like Canonical's AMIs it trusts only the distribution's CAs: the host's extra certificates reach
    it through the playbook's ai_lab_ca_certificates role, as on EC2, and the first-boot test can
    tell that the hygiene removed them again.
    """
    return ImageRecipe(
        repository="xal-machine",
        packages=(
            "python3",
            "sudo",
            "ca-certificates",
            "openssh-server",
            "systemd",
            "systemd-sysv",
            "dbus",
            "netplan.io",
            "iproute2",
        ),
        cmd=("/sbin/init",),
        files=(
            ("/etc/cloud/cloud.cfg", CLOUD_CFG),
            ("/etc/ssh/sshd_config.d/60-cloudimg-settings.conf", CLOUDIMG_SSHD),
        ),
    )


KERNEL_PACKAGE = "linux-image-cloud-amd64"


def kernel_recipe() -> ImageRecipe:
    """The kernel kit of the VM disks: Debian's cloud kernel (virtio drivers, no hardware zoo) with
    its modules and an initramfs, built once and copied into every disk the rehearsal exports.

    The machine stand-in is a container image without a kernel; a real AMI brings its own, so the
    disk builder adds this one the way the AMI's would be there. No command: it never runs.
    """
    return ImageRecipe(repository="xal-kernel", packages=(KERNEL_PACKAGE, "initramfs-tools", "zstd"))


def _image_label(tag: str) -> str | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def mmdebstrap_argv(recipe: ImageRecipe, cert_dir: Path | None, files_dir: Path | None = None) -> list[str]:
    """The bootstrap command; certificates are copied in and registered, and the recipe's files
    uploaded, before the tarball is written."""
    argv = ["mmdebstrap", "--variant=apt", "--quiet", f"--include={','.join(recipe.packages)}"]
    for index, (inside, _content) in enumerate(recipe.files):
        assert files_dir is not None
        argv += [
            f'--customize-hook=mkdir -p "$1{Path(inside).parent}"',
            f"--customize-hook=upload {files_dir / str(index)} {inside}",
        ]
    if cert_dir is not None:
        argv += [
            f"--customize-hook=copy-in {' '.join(str(p) for p in sorted(cert_dir.iterdir()))} "
            "/usr/local/share/ca-certificates/",
            '--customize-hook=chroot "$1" update-ca-certificates --fresh >/dev/null',
        ]
    argv += ['--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin', recipe.suite, "-"]
    return argv


def docker_import_argv(recipe: ImageRecipe) -> list[str]:
    argv = ["docker", "import", "--change", f"LABEL {RECIPE_LABEL}={recipe.digest()}"]
    if recipe.cmd:
        cmd_json = "[" + ",".join(f'"{c}"' for c in recipe.cmd) + "]"
        argv += ["--change", f"CMD {cmd_json}"]
    return [*argv, "-", recipe.tag]


def ensure_image(recipe: ImageRecipe, work_dir: Path) -> str:
    """Return the image tag, building it first when no image with the same recipe exists."""
    if _image_label(recipe.tag) == recipe.digest():
        return recipe.tag
    cert_dir = recipe.ca_bundle.write_to(work_dir / f"certs-{recipe.repository}")
    files_dir = work_dir / f"files-{recipe.repository}"
    files_dir.mkdir(parents=True, exist_ok=True)
    for index, (_inside, content) in enumerate(recipe.files):
        (files_dir / str(index)).write_text(content)
    argv = mmdebstrap_argv(recipe, cert_dir, files_dir)
    bootstrap = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert bootstrap.stdout is not None
    imported = subprocess.run(docker_import_argv(recipe), stdin=bootstrap.stdout, capture_output=True, text=True)
    bootstrap.stdout.close()
    bootstrap_err = bootstrap.stderr.read().decode(errors="replace") if bootstrap.stderr else ""
    if bootstrap.wait() != 0:
        raise XalError(f"building image {recipe.tag}: mmdebstrap failed: {bootstrap_err.strip()[-2000:]}")
    if imported.returncode != 0:
        raise XalError(f"building image {recipe.tag}: docker import failed: {imported.stderr.strip()}")
    return recipe.tag


def require_tools(*tools: str) -> None:
    """Fail early, with the install hint, when a local tool is missing or docker is not running."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise XalError(f"missing tool(s): {', '.join(missing)}; run scripts/bootstrap to install them")
    if "docker" in tools:
        probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, check=False)
        if probe.returncode != 0:
            raise XalError("docker is installed but no Docker daemon answers; start dockerd (scripts/bootstrap does)")


def prepare_local_images(settings: Settings, work_dir: Path, activity: Activity = log_activity) -> list[str]:
    """Ensure the base, sshd, machine and kernel-kit images exist for the current recipe; their tags."""
    require_tools("docker", "mmdebstrap")
    bundle = CaBundle.from_host(list(settings.extra_ca_certs))
    tags = []
    for recipe in (base_recipe(bundle), sshd_recipe(bundle), machine_recipe(), kernel_recipe()):
        with activity(f"bootstrapping {recipe.tag} from Debian packages (cached after the first time)"):
            tags.append(ensure_image(recipe, work_dir))
    return tags
