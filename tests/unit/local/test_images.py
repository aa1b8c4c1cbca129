"""The machine image recipe: its cloud-image files go into the image and into the recipe hash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xal.local.images import kernel_recipe, machine_recipe, mmdebstrap_argv


def test_machine_files_are_uploaded_and_change_the_recipe_hash(tmp_path: Path) -> None:
    recipe = machine_recipe()
    argv = mmdebstrap_argv(recipe, None, tmp_path)
    assert f"--customize-hook=upload {tmp_path / '1'} /etc/ssh/sshd_config.d/60-cloudimg-settings.conf" in argv
    assert '--customize-hook=mkdir -p "$1/etc/cloud"' in argv
    assert {"systemd-sysv", "openssh-server", "netplan.io"} <= set(recipe.packages)
    assert recipe.cmd == ("/sbin/init",)
    changed = replace(recipe, files=((recipe.files[0][0], "other"), recipe.files[1]))
    assert changed.digest() != recipe.digest()


def test_kernel_kit_is_debians_cloud_kernel_with_its_initramfs() -> None:
    recipe = kernel_recipe()
    assert {"linux-image-cloud-amd64", "initramfs-tools"} <= set(recipe.packages)
    assert recipe.cmd == ()  # never run: only copied from
    assert recipe.digest() != machine_recipe().digest()
