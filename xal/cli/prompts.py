"""Questions on the terminal, for the library's askers (the library itself never prompts).

Without a terminal (CI, a pipe) there is nobody to answer: the change set confirmation refuses
with the library's UsageError, and no secret asker is offered, so the library asks for the
environment variable instead.
"""

from __future__ import annotations

import sys

import typer


def confirm_on_terminal(question: str) -> bool:
    """Yes/no on stderr (default no); without a terminal, refuse as the library default does."""
    if not sys.stdin.isatty():
        from xal.deploy.changeset import no_one_to_ask

        return no_one_to_ask(question)
    return typer.confirm(question, default=False, err=True)
