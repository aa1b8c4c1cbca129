"""The one reader of botocore ``ClientError`` details.

Every module that reacts to a particular AWS error code asks here, so "what did AWS say" is
answered the same way everywhere (and works for any exception: a non-AWS error has code '').
"""

from __future__ import annotations

import re


def error_code(exc: BaseException) -> str:
    """The AWS error code (``InvalidAMIID.NotFound``, ``404``, ...), or '' for a non-AWS error."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    """AWS's message text, or the exception's own text for a non-AWS error."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", exc))


def code_and_message(exc: BaseException) -> tuple[str, str]:
    """(code, message); a non-AWS error is named by its exception type."""
    return error_code(exc) or type(exc).__name__, error_message(exc)


def describe_error(exc: BaseException) -> str:
    """``Code: Message`` for an AWS error, the exception text otherwise (for one-line reports)."""
    code = error_code(exc)
    return f"{code}: {error_message(exc)}" if code else str(exc)


def is_error(exc: BaseException, *codes: str, pattern: str | None = None) -> bool:
    """True when ``exc`` is an AWS error with one of ``codes`` (exact) or a code matching ``pattern``."""
    code = error_code(exc)
    if not code:
        return False
    return code in codes or (pattern is not None and re.search(pattern, code) is not None)


def is_not_found(exc: BaseException) -> bool:
    """The resource is gone: any ``*NotFound*``/``NoSuch*`` code, S3's ``404``, or CloudFormation's
    ``ValidationError ... does not exist``."""
    code = error_code(exc)
    if is_error(exc, "404", pattern=r"NotFound|NoSuch"):
        return True
    return code == "ValidationError" and "does not exist" in error_message(exc)
