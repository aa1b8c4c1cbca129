"""VM disks: bootable disk images from a local machine image, and booting them in QEMU."""
