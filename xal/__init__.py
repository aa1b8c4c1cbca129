"""xal: the Exasol AI-Lab image factory."""

__version__ = "0.1.0"
