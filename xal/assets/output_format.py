"""The output formats of ``show-aws-assets`` (a module of its own: the CLI needs it for --help)."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """How ``show-aws-assets`` prints: a terminal table, Markdown for files and release notes, JSON."""

    TABLE = "table"
    MARKDOWN = "markdown"
    JSON = "json"
