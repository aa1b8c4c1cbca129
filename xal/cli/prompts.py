"""Questions on the terminal, for the library's askers (the library itself never prompts).

Without a terminal (CI, a pipe) there is nobody to answer: the change set confirmation refuses
with the library's UsageError, and no secret asker is offered, so the library asks for the
environment variable instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from xal.secrets import AskSecret


def confirm_on_terminal(question: str) -> bool:
    """Yes/no on stderr (default no); without a terminal, refuse as the library default does."""
    if not sys.stdin.isatty():
        from xal.deploy.changeset import no_one_to_ask

        return no_one_to_ask(question)
    return typer.confirm(question, default=False, err=True)


def secret_asker(new: bool = True) -> AskSecret | None:
    """A hidden prompt for secrets the environment does not give, if there is a terminal to ask on.

    A ``new`` secret (a password an image is built with) is asked twice: a typo would lock the
    user out. An existing one (to log in with) once."""
    if not sys.stdin.isatty():
        return None
    return _ask_new_secret if new else _ask_secret


def _ask_new_secret(prompt: str) -> str:
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


def _ask_secret(prompt: str) -> str:
    return str(typer.prompt(prompt, hide_input=True))
