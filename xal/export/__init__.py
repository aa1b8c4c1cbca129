"""Export AMIs to VM disk images (VMDK, VHD, RAW), publish AMIs, copy them to other regions.

Modules: ``preflight`` (checks before anything starts), ``tasks`` (ExportImage tasks, idempotent
start, batched describe, backoff), ``scheduler`` (concurrency within AWS's limits), ``rename``
(server-side multipart copy to the release name, SHA-256), ``pipeline`` (``xal export``),
``publish`` (make-ami-public, region copies), ``create_vm`` (``xal create-vm``/``export-vm``);
and their progress is shown by the CLI (``xal.cli.progress``).
"""
