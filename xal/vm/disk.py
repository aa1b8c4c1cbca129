"""Bootable VM disks from a local machine image: what AWS's ExportImage writes, built offline.

The rehearsal AMI's disk is a Docker image (:mod:`xal.local.ami_image`), a file system without a
kernel or a partition table. This module makes it the disk an AWS-exported Ubuntu image is: an
MBR (msdos) label with one ext4 root partition, BIOS GRUB in the MBR gap, a kernel and initramfs
under /boot (Debian's cloud kernel, from the ``xal-kernel`` kit image), root and fstab by UUID and
the console on the first serial port, so a hypervisor (and ``xal boot-test --image``) can boot it.
Every step is a well-kept tool (qemu-img, sfdisk, mkfs.ext4, losetup, mount, grub-install, tar),
run as root with argv lists; loop devices are detached and mounts undone whatever happens.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from xal.errors import XalError
from xal.local.images import Activity, ensure_image, kernel_recipe, log_activity
from xal.paths import state_dir

# AWS's export format name -> (qemu-img format, its convert options): stream-optimized VMDK as
# AWS and VMware's OVF tools write it, dynamic VHD (qemu-img's "vpc"), plain RAW. force_size keeps
# the VHD's size the disk's: without it qemu-img rounds it up to a CHS geometry (+8 KiB on 100 MiB)
DISK_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "VMDK": ("vmdk", ("-o", "subformat=streamOptimized")),
    "VHD": ("vpc", ("-o", "force_size=on")),
    "RAW": ("raw", ()),
}
FAKE_DISKS_HINT = "(pass --fake-disks to rehearse with placeholder disks)"
MIB = 1024 * 1024
PARTITION_START = MIB  # the MBR gap before it holds GRUB's core image
# room on top of the content: ext4's metadata and journal, and what the first boot writes
# (journal, Docker's state); small, because the disks go into an in-memory S3 emulator
HEADROOM_FACTOR = 1.10
HEADROOM_BYTES = 256 * MIB
# GRUB 2.06 (bookworm's) cannot read ext4 with these newer features: leave them off
EXT4_OPTIONS = ("-O", "^metadata_csum_seed,^orphan_file")
GRUB_MODULES = "part_msdos ext2"
GRUB_TIMEOUT_SECONDS = 1
KERNEL_CMDLINE = "ro console=tty0 console=ttyS0,115200n8"
# left in a container's file system by Docker; on a VM, systemd would take /.dockerenv for a container
DOCKER_LEFTOVERS = ("/.dockerenv",)
# the kernel package's dependency that loads modules (bridge, overlay, nf_tables for dockerd): an
# Ubuntu AMI has it, the container stand-in not; merged /usr, as in the image
KMOD_FILES = tuple(
    f"usr/{path}"
    for path in (
        "bin/kmod",
        "bin/lsmod",
        *(f"sbin/{t}" for t in ("modprobe", "depmod", "insmod", "lsmod", "modinfo", "rmmod")),
    )
)
# Docker leaves /etc/hostname and /etc/hosts empty (it bind-mounts its own at run time); a VM needs
# both, or sudo waits for DNS to resolve the fallback hostname
HOSTNAME = "ai-lab"
HOSTS = f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n::1 localhost ip6-localhost ip6-loopback\n"
PARTITION_WAIT_SECONDS = 5.0

# step -> the tools it runs, and where they come from (Debian packages)
STEPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("copying the image's file system", ("docker", "tar"), "docker.io, tar"),
    ("partitioning", ("sfdisk",), "fdisk"),
    ("the root file system", ("mkfs.ext4",), "e2fsprogs"),
    ("mounting the disk", ("losetup", "partx", "mount", "umount"), "mount, util-linux"),
    ("the kernel kit", ("mmdebstrap",), "mmdebstrap"),
    # grub-install finds a partition's start through udevadm (a loop partition has no geometry)
    ("the bootloader", ("grub-install", "udevadm"), "grub2-common, grub-pc-bin, udev"),
    ("the conversion to VMDK/VHD", ("qemu-img",), "qemu-utils"),
)
GRUB_PC_MODULES = Path("/usr/lib/grub/i386-pc")


@dataclass(frozen=True)
class DiskInfo:
    """What ``qemu-img info`` says about a disk image."""

    format: str  # qemu-img's name: vmdk, vpc, raw, qcow2
    virtual_size: int  # bytes the guest sees
    actual_size: int  # bytes the file takes on the host


def require_disk_tools() -> None:
    """Fail before anything starts, naming the step that could not run."""
    for step, tools, packages in STEPS:
        missing = [tool for tool in tools if shutil.which(tool) is None]
        if missing:
            raise XalError(
                f"cannot build VM disks: {step} needs {', '.join(missing)} (Debian: {packages}; "
                f"scripts/bootstrap installs it) {FAKE_DISKS_HINT}"
            )
        if step == "the bootloader" and not GRUB_PC_MODULES.is_dir():
            raise XalError(
                f"cannot build VM disks: the bootloader needs GRUB's BIOS modules in {GRUB_PC_MODULES} "
                f"(Debian: grub-pc-bin) {FAKE_DISKS_HINT}"
            )
    if os.geteuid() != 0:
        raise XalError(f"cannot build VM disks: mounting the disk needs root (loop devices) {FAKE_DISKS_HINT}")
    probe = subprocess.run(["losetup", "--find"], capture_output=True, text=True, check=False)
    if probe.returncode != 0 or not probe.stdout.strip():
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "no free loop device"
        raise XalError(f"cannot build VM disks: mounting the disk needs a loop device ({reason}) {FAKE_DISKS_HINT}")


def _run(step: str, argv: list[str], **kwargs: object) -> str:
    """stdout of one tool; XalError naming the step and the tool's last words otherwise."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        said = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise XalError(f"building the disk: {step}: {argv[0]} failed ({result.returncode}): {' / '.join(said[-3:])}")
    return str(result.stdout)


@dataclass(frozen=True)
class KernelKit:
    """The extracted kernel kit: /boot and /usr/lib/modules of the ``xal-kernel`` image."""

    root: Path
    version: str

    @property
    def initrd(self) -> Path:
        return self.root / "boot" / f"initrd.img-{self.version}"

    @property
    def modules(self) -> Path:
        return self.root / "usr" / "lib" / "modules" / self.version

    def size(self) -> int:
        """Bytes the kit adds to a disk."""
        return sum(path.lstat().st_size for folder in (self.root / "boot", self.modules) for path in folder.rglob("*"))


def kit_dir() -> Path:
    """Where the kernel kit is extracted (next to the local images' recipe files), once per recipe."""
    return state_dir() / "images"


def kernel_kit(work_dir: Path | None = None, activity: Activity = log_activity) -> KernelKit:
    """The kernel, modules and initramfs every disk gets, built once per recipe and extracted once
    under ``work_dir`` [default: :func:`kit_dir`], in a folder named after the recipe's hash."""
    work_dir = work_dir or kit_dir()
    work_dir.mkdir(parents=True, exist_ok=True)
    recipe = kernel_recipe()
    root = work_dir / f"kernel-{recipe.digest()}"
    if not root.is_dir():
        with activity(f"bootstrapping {recipe.tag}, the VM disks' kernel (cached after the first time)"):
            ensure_image(recipe, work_dir)
        staging = Path(tempfile.mkdtemp(prefix="kernel-", dir=work_dir))
        try:
            with _created(recipe.tag) as container:
                _export(container, staging, ["boot", "usr/lib/modules", *KMOD_FILES], "the kernel kit")
            staging.rename(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    versions = sorted(p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*"))
    if not versions:
        raise XalError(f"the kernel kit {recipe.tag} has no kernel under /boot")
    kit = KernelKit(root, versions[-1])
    if not kit.initrd.is_file() or not kit.modules.is_dir():
        raise XalError(f"the kernel kit {recipe.tag} lacks the initramfs or modules of {kit.version}")
    return kit


@contextmanager
def _created(image: str) -> Iterator[str]:
    """A created (never started) container of ``image``, removed afterwards: what docker export reads."""
    container = _run("copying the image's file system", ["docker", "create", image, "/bin/true"]).strip()
    try:
        yield container
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def _export(container: str, into: Path, members: list[str], step: str) -> None:
    """``docker export`` the container's file system into ``into`` (owners, modes and xattrs kept)."""
    tar = ["tar", "--extract", "--numeric-owner", "--preserve-permissions", "--xattrs", "--xattrs-include=*"]
    export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert export.stdout is not None
    extracted = subprocess.run([*tar, "-C", str(into), "-f", "-", *members], stdin=export.stdout, capture_output=True)
    export.stdout.close()
    export_err = export.stderr.read().decode(errors="replace").strip() if export.stderr else ""
    if export.wait() != 0:
        raise XalError(f"building the disk: {step}: docker export failed: {export_err[-500:]}")
    if extracted.returncode != 0:
        raise XalError(f"building the disk: {step}: tar failed: {extracted.stderr.decode(errors='replace')[-500:]}")


def image_size(image: str) -> int:
    """Bytes of the image's file system (Docker's uncompressed size of all layers)."""
    return int(_run("copying the image's file system", ["docker", "image", "inspect", "--format", "{{.Size}}", image]))


def disk_size(content: int) -> int:
    """Whole MiB for the partition table, ``content`` and headroom."""
    return PARTITION_START + math.ceil((content * HEADROOM_FACTOR + HEADROOM_BYTES) / MIB) * MIB


def sfdisk_script(size: int) -> str:
    """One bootable Linux partition from 1 MiB to the end, on an MBR label (as Ubuntu's AMIs have)."""
    sectors = (size - PARTITION_START) // 512
    return f"label: dos\nunit: sectors\n\nstart={PARTITION_START // 512}, size={sectors}, type=83, bootable\n"


def grub_cfg(root_uuid: str, kernel_version: str) -> str:
    return f"""# written by xal: boot the AI-Lab from the root partition, console on the first serial port
set timeout={GRUB_TIMEOUT_SECONDS}
set default=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root {root_uuid}
menuentry "Exasol AI-Lab" {{
    echo "GRUB: loading Linux {kernel_version}"
    linux /boot/vmlinuz-{kernel_version} root=UUID={root_uuid} {KERNEL_CMDLINE}
    initrd /boot/initrd.img-{kernel_version}
}}
"""


def fstab(root_uuid: str) -> str:
    header = "# written by xal: the root file system by UUID, as on a cloud image"
    return f"{header}\nUUID={root_uuid} / ext4 defaults,errors=remount-ro 0 1\n"


@contextmanager
def _loop_device(disk: Path) -> Iterator[tuple[str, str]]:
    """The disk attached to a loop device with its partition added: (whole disk, partition 1).

    ``losetup --partscan`` relies on the kernel's partition-table parsers; a kernel built without
    msdos support (the Firecracker VMs CI runs in) adds no partition, so partx adds it explicitly.
    """
    device = _run("mounting the disk", ["losetup", "--find", "--show", "--partscan", str(disk)]).strip()
    partition = f"{device}p1"
    try:
        if not _appears(partition, PARTITION_WAIT_SECONDS / 5):
            _run("mounting the disk", ["partx", "--add", device])
            if not _appears(partition, PARTITION_WAIT_SECONDS):
                raise XalError(f"building the disk: mounting the disk: {partition} did not appear (losetup -P, partx)")
        yield device, partition
    finally:
        subprocess.run(["partx", "--delete", device], capture_output=True, check=False)
        subprocess.run(["losetup", "--detach", device], capture_output=True, check=False)


def _appears(path: str, seconds: float) -> bool:
    """Whether the device node exists within ``seconds`` (without udev, devtmpfs adds it a moment later)."""
    deadline = time.monotonic() + seconds
    while not Path(path).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextmanager
def _mounted(partition: str, mountpoint: Path) -> Iterator[Path]:
    _run("mounting the disk", ["mount", "-t", "ext4", partition, str(mountpoint)])
    try:
        yield mountpoint
    finally:
        subprocess.run(["sync", "-f", str(mountpoint)], capture_output=True, check=False)
        if subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mountpoint)], capture_output=True, check=False)


def _install_root(root: Path, container: str, kit: KernelKit, root_uuid: str) -> None:
    """The image's file system plus what the AMI's disk has and a container image lacks."""
    _export(container, root, [], "copying the image's file system")
    for leftover in DOCKER_LEFTOVERS:
        (root / leftover.lstrip("/")).unlink(missing_ok=True)
    for path, content in (("etc/hostname", f"{HOSTNAME}\n"), ("etc/hosts", HOSTS)):
        if not (root / path).exists() or not (root / path).read_text().strip():  # Docker's placeholders
            (root / path).write_text(content)
    _run("the kernel kit", ["cp", "-a", f"{kit.root / 'boot'}/.", str(root / "boot")])
    (root / "usr" / "lib" / "modules").mkdir(parents=True, exist_ok=True)
    _run("the kernel kit", ["cp", "-a", str(kit.modules), str(root / "usr" / "lib" / "modules")])
    if not (root / "usr" / "sbin" / "modprobe").exists():
        for path in KMOD_FILES:
            _run("the kernel kit", ["cp", "-a", str(kit.root / path), str(root / path)])
    (root / "etc" / "fstab").write_text(fstab(root_uuid))


def _install_grub(boot: Path, device: str) -> None:
    """BIOS GRUB into the MBR gap of ``device``, its modules under ``boot``/grub. The device map
    names the loop device the disk as GRUB will see it at boot (hd0): grub-install cannot tell
    on its own which BIOS drive a loop device is."""
    device_map = boot / "grub" / "device.map"
    device_map.parent.mkdir(parents=True, exist_ok=True)
    device_map.write_text(f"(hd0) {device}\n")
    try:
        argv = ["grub-install", "--target=i386-pc", f"--boot-directory={boot}", f"--modules={GRUB_MODULES}", device]
        _run("the bootloader", argv)
    finally:
        device_map.unlink(missing_ok=True)


def build_raw_disk(image: str, out: Path, activity: Activity = log_activity) -> Path:
    """Write a bootable, partitioned raw disk of the local machine ``image`` to ``out``.

    The kernel kit is built and extracted the first time (:func:`kernel_kit`). Needs root.
    """
    require_disk_tools()
    out.parent.mkdir(parents=True, exist_ok=True)
    kit = kernel_kit(activity=activity)
    size = disk_size(image_size(image) + kit.size())
    root_uuid = str(uuid.uuid4())
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    with activity(f"building a {size // MIB} MiB bootable disk of {image}"):
        try:
            _run("creating the disk", ["qemu-img", "create", "-q", "-f", "raw", str(partial), str(size)])
            _run("partitioning", ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(partial)],
                 input=sfdisk_script(size))  # fmt: skip
            with ExitStack() as stack:
                device, partition = stack.enter_context(_loop_device(partial))
                mkfs = ["mkfs.ext4", "-q", "-L", "root", "-U", root_uuid, *EXT4_OPTIONS, partition]
                _run("the root file system", mkfs)
                mountpoint = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xal-disk-")))
                root = stack.enter_context(_mounted(partition, mountpoint))
                container = stack.enter_context(_created(image))
                _install_root(root, container, kit, root_uuid)
                _install_grub(root / "boot", device)
                (root / "boot" / "grub" / "grub.cfg").write_text(grub_cfg(root_uuid, kit.version))
            partial.rename(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return out


def convert_disk(raw: Path, fmt: str, out: Path) -> Path:
    """``raw`` converted to the AWS export format ``fmt`` (VMDK, VHD, RAW) at ``out``."""
    if fmt not in DISK_FORMATS:
        raise XalError(f"unknown disk format {fmt!r} (known: {', '.join(DISK_FORMATS)})")
    qemu_format, options = DISK_FORMATS[fmt]
    partial = out.with_name(out.name + ".partial")
    try:
        argv = ["qemu-img", "convert", "-f", "raw", "-O", qemu_format, *options, str(raw), str(partial)]
        _run(f"the conversion to {fmt}", argv)
        partial.rename(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def disk_info(path: Path) -> DiskInfo:
    """Format and sizes as ``qemu-img info`` reads them from the file."""
    info = json.loads(_run("reading the disk", ["qemu-img", "info", "--output=json", str(path)]))
    return DiskInfo(str(info["format"]), int(info["virtual-size"]), int(info.get("actual-size") or 0))


# the formats qemu-img check can check: a raw disk has no metadata, and qemu-img has no check for
# VHD ("This image format does not support checks"); their content is compared with the raw disk
CHECKABLE_FORMATS = ("vmdk", "qcow2", "vdi", "vhdx", "qed", "parallels")


def check_disk(path: Path) -> None:
    """``qemu-img check`` of a disk image whose format has metadata to check; XalError otherwise."""
    fmt = disk_info(path).format
    if fmt not in CHECKABLE_FORMATS:
        return
    result = subprocess.run(["qemu-img", "check", "-f", fmt, str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise XalError(f"{path.name} is not a sound {fmt} image: {' / '.join(said[-3:])}")
