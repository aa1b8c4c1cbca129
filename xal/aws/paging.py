"""Generic pagination for the AWS calls that have no boto3 paginator (or one moto breaks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def pages(
    call: Callable[..., dict[str, Any]],
    result_key: str,
    *,
    next_key: str = "NextToken",
    request_key: str | None = None,
    **kwargs: Any,
) -> Iterator[Any]:
    """Items of every page; stops on a missing or empty token (and on a repeated one)."""
    seen: set[str] = set()
    while True:
        response = call(**kwargs)
        yield from response.get(result_key) or []
        token = response.get(next_key)
        if not token or token in seen:
            return
        seen.add(token)
        kwargs[request_key or next_key] = token
