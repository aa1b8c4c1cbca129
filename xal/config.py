"""One typed settings object for every command.

Precedence, highest first: command-line option, environment variable ``XAL_<NAME>``, the
``[xal]`` table of a ``xal.toml`` (path from ``--config``/``XAL_CONFIG``, else ``./xal.toml`` when
present), built-in default. A plain dataclass keeps ``xal --help`` fast (no pydantic import).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from xal import __version__, defaults
from xal.errors import UsageError
from xal.naming import validate_asset_id
from xal.netcheck import is_loopback_url

ENV_PREFIX = "XAL_"
DEFAULT_CONFIG_FILE = Path("xal.toml")
LOG_LEVELS = ("normal", "info", "debug")
NO_INDEX = "none"  # pip_extra_index_url: PyPI only (an empty environment variable counts as unset)


@dataclass(frozen=True)
class Settings:
    """Options shared by the commands; command-specific inputs stay parameters of the library calls."""

    aws_profile: str | None = None
    region: str = defaults.REGION
    aws_endpoint_url: str | None = None
    asset_id: str = __version__
    log_level: str = "normal"
    json: bool = False
    max_attempts: int = defaults.AWS_MAX_ATTEMPTS
    extra_ca_certs: tuple[Path, ...] = field(default_factory=tuple)
    pip_extra_index_url: str = defaults.PIP_EXTRA_INDEX_URL

    def __post_init__(self) -> None:
        validate_asset_id(self.asset_id)
        index = self.pip_extra_index_url
        if index not in ("", NO_INDEX) and not index.startswith(("https://", "http://")):
            raise UsageError(f"pip_extra_index_url must be an http(s) URL or {NO_INDEX!r}, not {index!r}")
        if self.log_level not in LOG_LEVELS:
            raise UsageError(f"invalid log level {self.log_level!r}; choose one of {', '.join(LOG_LEVELS)}")
        if self.max_attempts < 1:
            raise UsageError("max_attempts must be at least 1")

    @property
    def extra_index(self) -> str:
        """The extra pip index of the notebook packages, "" for PyPI only."""
        return "" if self.pip_extra_index_url in ("", NO_INDEX) else self.pip_extra_index_url

    @property
    def endpoint_is_local(self) -> bool:
        """True when AWS calls go to a local emulator (moto) instead of AWS."""
        return self.aws_endpoint_url is not None and is_loopback_url(self.aws_endpoint_url)


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Turn a string or TOML value into the field's type, with an error naming where it came from."""
    default = next(f for f in fields(Settings) if f.name == name)
    kind = default.type
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(raw)
            return lowered in {"1", "true", "yes", "on"}
        if kind == "int":
            return int(raw)
        if kind.startswith("tuple[Path"):
            items = raw if isinstance(raw, list) else [p for p in str(raw).split(os.pathsep) if p]
            return tuple(Path(p) for p in items)
        return str(raw)
    except ValueError:
        raise UsageError(f"{source}: invalid value {raw!r} for {name}") from None


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    table = data.get("xal", data)
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return {k: _coerce(k, v, str(path)) for k, v in table.items()}


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    values = {}
    for f in fields(Settings):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(f.name, raw, ENV_PREFIX + f.name.upper())
    return values


def load_settings(
    cli: dict[str, Any] | None = None,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge defaults, config file, environment and CLI options (``None`` CLI values mean "not given")."""
    env = dict(os.environ if environ is None else environ)
    path = config_file or (Path(env["XAL_CONFIG"]) if env.get("XAL_CONFIG") else None)
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    merged: dict[str, Any] = {}
    if path is not None:
        merged.update(_from_file(path))
    merged.update(_from_env(env))
    merged.update({k: v for k, v in (cli or {}).items() if v is not None})
    return replace(Settings(), **merged) if merged else Settings()


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    """JSON-friendly view for ``xal show-config``."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        out[f.name] = [str(p) for p in value] if isinstance(value, tuple) else value
    return out
