"""Errors xal reports to the user as one line and a documented exit code, never a traceback."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every xal command (documented in README.md)."""

    OK = 0
    FAILED = 1  # the operation ran and failed (build error, AWS error, failed export)
    USAGE = 2  # bad input: invalid option value, unknown format, malformed URL (also click's own code)
    NOT_FOUND = 3  # a named resource does not exist (stack, AMI, asset, bucket)
    CREDENTIALS = 4  # no usable AWS/GitHub credentials
    UNREACHABLE = 5  # an endpoint could not be reached
    INTERRUPTED = 130  # Ctrl-C; cleanup has run


class XalError(Exception):
    """An expected failure: the message is shown to the user as is."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(XalError):
    exit_code = ExitCode.USAGE


class NotFoundError(XalError):
    exit_code = ExitCode.NOT_FOUND
