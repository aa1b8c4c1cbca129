"""The amazon-ebs source of the AI-Lab build, defined once for both Packer generations.

Packer 1.6.6 has the amazon builder built in and knows fewer attributes than the current plugin
(github.com/hashicorp/amazon). Both files in ``packer/amazon-ebs/`` are rendered from the one
definition below (``scripts/render-packer-sources``), and a unit test fails when a shipped file
differs from its rendering, so the two can no longer drift apart by hand. The output is what
``packer fmt`` writes (aligned ``=`` within a run of attributes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Generation(StrEnum):
    """Which Packer runs the template: 1.6.6 with built-in builders, or current with plugins."""

    LEGACY = "legacy"  # Packer < 1.7
    CURRENT = "current"  # Packer >= 1.7, plugin github.com/hashicorp/amazon


class SshInterface(StrEnum):
    """The amazon-ebs ``ssh_interface`` values: which address Packer connects to, or an SSM session."""

    PUBLIC_IP = "public_ip"
    PRIVATE_IP = "private_ip"
    PUBLIC_DNS = "public_dns"
    PRIVATE_DNS = "private_dns"
    SESSION_MANAGER = "session_manager"  # plugin github.com/hashicorp/amazon (Packer >= 1.7) only


@dataclass(frozen=True)
class Attr:
    name: str
    value: str | dict[str, str]  # an HCL expression, or an object literal written one key per line
    only: Generation | None = None


@dataclass(frozen=True)
class Block:
    kind: str
    labels: tuple[str, ...] = ()
    body: tuple[Attr | Block, ...] = field(default_factory=tuple)
    only: Generation | None = None


# What an SSM session needs on the build instance (AWS's AmazonSSMManagedInstanceCore, sessions part).
SSM_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)

CURRENT = Generation.CURRENT
SOURCE = Block(
    "source",
    ("amazon-ebs", "ai_lab"),
    (
        Attr("region", "var.region"),
        Attr("ami_regions", "var.ami_regions"),
        Attr("custom_endpoint_ec2", "var.ec2_endpoint"),
        Attr("skip_credential_validation", "var.ec2_endpoint != null"),
        Attr("instance_type", "var.instance_type"),
        Attr("source_ami", "var.source_ami"),
        Block(
            "source_ami_filter",
            body=(
                Attr(
                    "filters",
                    {
                        "name": "var.source_ami_name_filter",
                        "architecture": '"x86_64"',
                        "root-device-type": '"ebs"',
                        "virtualization-type": '"hvm"',
                    },
                ),
                Attr("owners", "var.source_ami_owners"),
                Attr("most_recent", "true"),
            ),
        ),
        Attr("ami_name", "var.ami_name"),
        Attr("ami_description", '"Exasol AI-Lab ${var.asset_id}"'),
        # IMDSv2 only, on the build instance and on every instance launched from the AMI
        Attr("imds_support", '"v2.0"', only=CURRENT),
        Block(
            "metadata_options",
            body=(
                Attr("http_endpoint", '"enabled"'),
                Attr("http_tokens", '"required"'),
                Attr("http_put_response_hop_limit", "1"),
            ),
            only=CURRENT,
        ),
        Block(
            "launch_block_device_mappings",
            body=(
                Attr("device_name", '"/dev/sda1"'),
                Attr("volume_size", "var.root_volume_size_gb"),
                Attr("volume_type", '"gp3"'),
                Attr("throughput", "125"),
                Attr("iops", "3000"),
                Attr("delete_on_termination", "true"),
            ),
        ),
        Attr("ssh_username", "var.ssh_username"),
        Attr("ssh_host", "var.ssh_host"),
        Attr("ssh_port", "var.ssh_port"),
        Attr("ssh_keypair_name", "var.ssh_keypair_name"),
        Attr("ssh_private_key_file", "var.ssh_private_key_file"),
        Attr("ssh_interface", "var.ssh_interface", only=CURRENT),
        Attr("temporary_key_pair_type", '"ed25519"', only=CURRENT),
        # port 22 of the temporary security group opens only to these (xal never leaves it at 0.0.0.0/0)
        Attr("temporary_security_group_source_cidrs", "var.ssh_source_cidrs"),
        Attr("temporary_security_group_source_public_ip", "var.ssh_source_public_ip", only=CURRENT),
        Block(
            "dynamic",
            ("temporary_iam_instance_profile_policy_document",),
            (
                Attr("for_each", 'var.ssh_interface == "session_manager" ? [1] : []'),
                Block(
                    "content",
                    body=(
                        Attr("Version", '"2012-10-17"'),
                        Block(
                            "Statement",
                            body=(
                                Attr("Effect", '"Allow"'),
                                Attr("Action", "[" + ", ".join(f'"{a}"' for a in SSM_ACTIONS) + "]"),
                                Attr("Resource", '["*"]'),
                            ),
                        ),
                    ),
                ),
            ),
            only=CURRENT,
        ),
        Attr("run_tags", "var.tags"),
        Attr("run_volume_tags", "var.tags"),
        Attr("tags", "var.tags"),
        Attr("snapshot_tags", "var.tags"),
    ),
)

HEADERS = {
    Generation.LEGACY: "amazon-ebs source for Packer < 1.7 (the built-in builder, no IMDSv2 or SSM settings).",
    Generation.CURRENT: "amazon-ebs source for Packer >= 1.7 (plugin github.com/hashicorp/amazon).",
}


def _lines(item: Attr | Block, generation: Generation, indent: int, width: int) -> Iterator[str]:
    pad = "  " * indent
    if isinstance(item, Attr):
        if isinstance(item.value, dict):
            yield f"{pad}{item.name} = {{"
            key_width = max(len(k) for k in item.value)
            for key, value in item.value.items():
                yield f"{pad}  {key.ljust(key_width)} = {value}"
            yield f"{pad}}}"
        else:
            yield f"{pad}{item.name.ljust(width)} = {item.value}"
        return
    labels = "".join(f' "{label}"' for label in item.labels)
    yield f"{pad}{item.kind}{labels} {{"
    yield from _body(item.body, generation, indent + 1)
    yield f"{pad}}}"


def _body(items: tuple[Attr | Block, ...], generation: Generation, indent: int) -> Iterator[str]:
    """Like ``packer fmt``: the ``=`` of consecutive one-line attributes line up; blocks and
    multi-line values end such a run."""
    kept = [i for i in items if i.only in (None, generation)]
    run: list[Attr] = []

    def flush() -> Iterator[str]:
        width = max((len(a.name) for a in run), default=0)
        for attr in run:
            yield from _lines(attr, generation, indent, width)
        run.clear()

    for item in kept:
        if isinstance(item, Attr) and not isinstance(item.value, dict):
            run.append(item)
            continue
        yield from flush()
        yield from _lines(item, generation, indent, 0)
    yield from flush()


def render(generation: Generation) -> str:
    """The text of ``packer/amazon-ebs/<generation>.pkr.hcl``."""
    header = [
        f"# {HEADERS[generation]}",
        "# Rendered from xal/packer/amazon_ebs.py by scripts/render-packer-sources: edit there, not here.",
    ]
    return "\n".join([*header, *_lines(SOURCE, generation, 0, 0)]) + "\n"


def source_file(packer_dir: Path, generation: Generation) -> Path:
    return packer_dir / "amazon-ebs" / f"{generation.value}.pkr.hcl"
