"""retry_while_in_use: in-use errors are retried within their bound, everything else passes through."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from xal.aws.retry import retry_while_in_use


def aws_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} message"}}, "DeleteSecurityGroup")


def failing(*errors: BaseException) -> tuple[Callable[[], str], list[int]]:
    """A call that raises ``errors`` one by one, then returns 'ok'; the list counts the calls."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return fn, calls


def test_in_use_errors_are_retried_after_the_delay() -> None:
    fn, calls = failing(aws_error("DependencyViolation"), aws_error("VolumeInUse"))
    slept: list[float] = []
    retried: list[str] = []
    result = retry_while_in_use(
        fn, delay=5, attempts=6, sleep=slept.append, on_retry=lambda exc: retried.append(str(exc))
    )
    assert result == "ok" and len(calls) == 3
    assert slept == [5, 5] and len(retried) == 2


def test_other_errors_are_not_retried() -> None:
    for error in (aws_error("UnauthorizedOperation"), RuntimeError("DependencyViolation")):
        fn, calls = failing(error)
        with pytest.raises(type(error)):
            retry_while_in_use(fn, delay=5, attempts=6, sleep=lambda _: None)
        assert len(calls) == 1


def test_attempts_bound_the_calls_and_the_last_error_is_raised() -> None:
    fn, calls = failing(*[aws_error("InvalidSnapshot.InUse")] * 10)
    slept: list[float] = []
    with pytest.raises(ClientError, match=r"InvalidSnapshot\.InUse"):
        retry_while_in_use(fn, delay=2, attempts=6, sleep=slept.append)
    assert len(calls) == 6 and slept == [2] * 5


def test_timeout_counts_from_the_first_call() -> None:
    now = [100.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    fn, calls = failing(*[aws_error("DependencyViolation")] * 100)
    with pytest.raises(ClientError, match="DependencyViolation"):
        retry_while_in_use(fn, delay=5, timeout=90, sleep=sleep, clock=lambda: now[0])
    # failures at t=0, 5, ..., 90 are retried; the one at 95 is past the deadline
    assert len(calls) == 20


def test_a_bound_is_required() -> None:
    with pytest.raises(ValueError, match="attempts or timeout"):
        retry_while_in_use(lambda: None, delay=1)
