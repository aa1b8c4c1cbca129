"""The disk images a rehearsal's exports leave in the emulated bucket: real disks of the rehearsal AMI.

The AMI's disk is the local image the rehearsal committed after the build (:mod:`xal.local.ami_image`);
the ExportImage fake (:mod:`xal.local.moto_export`) resolves a sibling AMI to the AMI whose snapshots
it shares, and asks :class:`ImageDisks` for that AMI's disk in one format. The bootable raw disk is
built once per image and converted per format (:mod:`xal.vm.disk`), so an export of three formats
builds one file system and runs three conversions, in the fake's background threads. Their progress
is the export tasks' (the release display is live on the terminal then): the steps go to the log.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from xal.local.ami_image import find_ami_image
from xal.vm.disk import DISK_FORMATS, build_raw_disk, convert_disk

log = logging.getLogger(__name__)


class ImageDisks:
    """A :class:`xal.local.moto_export.DiskSource` over the local images of rehearsal AMIs."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._lock = threading.Lock()
        self._raw: dict[str, Path] = {}
        self._building: dict[str, threading.Lock] = {}

    def __call__(self, ami_id: str, fmt: str) -> Path:
        fmt = fmt.upper()
        if fmt not in DISK_FORMATS:
            raise ValueError(f"AWS exports no {fmt} disk images (only {', '.join(DISK_FORMATS)})")
        image = find_ami_image(ami_id)
        raw = self.raw_disk(image)
        if fmt == "RAW":
            return raw
        out = raw.with_suffix(f".{fmt.lower()}")
        log.info("converting the disk of %s to %s", ami_id, fmt)
        return convert_disk(raw, fmt, out)

    def raw_disk(self, image: str) -> Path:
        """The bootable raw disk of ``image``, built by the first caller; the others wait for it."""
        with self._lock:
            building = self._building.setdefault(image, threading.Lock())
        with building:
            if image not in self._raw:
                self.work_dir.mkdir(parents=True, exist_ok=True)
                name = image.replace("/", "_").replace(":", "_")
                log.info("building a bootable disk from %s", image)
                self._raw[image] = build_raw_disk(image, self.work_dir / f"{name}.raw")
            return self._raw[image]
