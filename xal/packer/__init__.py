"""Packer: templates in ``packer/``, run as a subprocess with an argv list."""
