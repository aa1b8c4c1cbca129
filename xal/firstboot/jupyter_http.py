"""JupyterLab over HTTP, as a browser meets it: the page, the login form, the API behind it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from xal.firstboot.machine import Machine

if TYPE_CHECKING:
    import requests

TIMEOUT = 15.0


class JupyterUnreachable(Exception):
    pass


def wait_for_lab(machine: Machine, timeout: float) -> tuple[int, float]:
    """Status of ``/lab`` (redirects followed, as a browser does) and the seconds until it answered."""
    import requests

    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            reply = requests.get(f"{machine.jupyter_url}/lab", timeout=TIMEOUT)
            return reply.status_code, time.monotonic() - started
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(1.0)
    raise JupyterUnreachable(f"{machine.jupyter_url}/lab did not answer within {timeout:.0f} s ({last})")


def login(machine: Machine, password: str) -> requests.Session | None:
    """A session logged in with ``password``, or None when JupyterLab refuses it.

    Logged in means: the login form accepted the password and the contents API answers; a refused
    password leaves the API at 403.
    """
    import requests

    session = requests.Session()
    session.get(f"{machine.jupyter_url}/login", timeout=TIMEOUT).raise_for_status()
    xsrf = session.cookies.get("_xsrf", "")
    session.post(
        f"{machine.jupyter_url}/login",
        data={"password": password, "_xsrf": xsrf},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    status = session.get(f"{machine.jupyter_url}/api/contents", timeout=TIMEOUT).status_code
    if status == 200:
        return session
    if status in (401, 403):
        return None
    raise JupyterUnreachable(f"{machine.jupyter_url}/api/contents answered {status} after the login")
