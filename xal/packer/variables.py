"""Check rendered variables against the variables the template declares, before running Packer.

Packer only warns about unknown variables in a var file and reports a missing one late; xal
refuses both up front, and checks value types, so a typo never costs a cloud instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xal.errors import UsageError

_SENTINEL = object()


@dataclass(frozen=True)
class Declared:
    name: str
    type: str
    default: Any = _SENTINEL
    sensitive: bool = False

    @property
    def required(self) -> bool:
        return self.default is _SENTINEL


def _type_expr(raw: Any) -> str:
    text = str(raw or "any")
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def declared_variables(template_dir: Path) -> dict[str, Declared]:
    """All ``variable`` blocks of the ``*.pkr.hcl`` files in ``template_dir``."""
    import hcl2

    found: dict[str, Declared] = {}
    for path in sorted(template_dir.glob("*.pkr.hcl")):
        with path.open() as fh:
            doc = hcl2.load(fh, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))
        for block in doc.get("variable", []):
            for name, body in block.items():
                found[name] = Declared(
                    name, _type_expr(body.get("type")), body.get("default", _SENTINEL), bool(body.get("sensitive"))
                )
    return found


def _matches(type_expr: str, value: Any) -> bool:
    if value is None or type_expr == "any":
        return True
    scalar = {"string": str, "bool": bool}
    if type_expr in scalar:
        return isinstance(value, scalar[type_expr])
    if type_expr == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if m := re.fullmatch(r"(list|set)\((.+)\)", type_expr):
        return isinstance(value, list) and all(_matches(m[2], v) for v in value)
    if m := re.fullmatch(r"map\((.+)\)", type_expr):
        return isinstance(value, dict) and all(_matches(m[1], v) for v in value.values())
    return True  # object(...)/tuple(...): Packer checks these itself


def check_variables(declared: dict[str, Declared], values: dict[str, Any]) -> None:
    """Raise one UsageError listing every unknown, missing and mistyped variable."""
    problems = []
    unknown = sorted(set(values) - set(declared))
    if unknown:
        problems.append(f"unknown variable(s) {', '.join(unknown)}")
    missing = sorted(n for n, d in declared.items() if d.required and values.get(n) is None)
    if missing:
        problems.append(f"missing required variable(s) {', '.join(missing)}")
    for name, value in sorted(values.items()):
        if name in declared and not _matches(declared[name].type, value):
            problems.append(f"variable {name} must be {declared[name].type}, got {type(value).__name__} {value!r}")
    if problems:
        raise UsageError("packer variables do not fit the template: " + "; ".join(problems))
