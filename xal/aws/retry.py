"""Retry a deletion while AWS still sees the resource as in use.

Deleting in dependency order is not enough on EC2: a security group stays "in use" for a while
after its instance is terminated, a volume or snapshot after its AMI or instance is gone. Those
errors go away on their own, so the deletion is repeated for a bounded number of attempts or
time; every other error (and the last in-use error) reaches the caller unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from xal.aws.errors import error_code

T = TypeVar("T")
IN_USE_CODES = frozenset({"DependencyViolation", "VolumeInUse", "InvalidSnapshot.InUse"})


def retry_while_in_use(
    fn: Callable[[], T],
    *,
    delay: float,
    attempts: int | None = None,
    timeout: float | None = None,
    codes: frozenset[str] = IN_USE_CODES,
    on_retry: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``fn()``, called again after ``delay`` seconds while it fails with one of ``codes``.

    Gives up (re-raising the in-use error) after ``attempts`` calls, or when a call fails more than
    ``timeout`` seconds after the first one began; at least one of the two bounds is required.
    ``on_retry`` sees each error that is retried (for a log line).
    """
    if attempts is None and timeout is None:
        raise ValueError("retry_while_in_use needs attempts or timeout")
    deadline = None if timeout is None else clock() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if error_code(exc) not in codes:
                raise
            if attempts is not None and attempt >= attempts:
                raise
            if deadline is not None and clock() > deadline:
                raise
            if on_retry is not None:
                on_retry(exc)
            sleep(delay)
