"""The house rule, checked on the import graph of xal/: a module imports only its own package and
the layers below it; presentation (typer, rich, xal.console) stays in the CLI; function-level
imports exist only where they keep ``xal --help`` fast."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "xal"

# bottom first. A unit (top-level module or package of xal) may import every layer below it and
# the earlier entries of its own layer; never a unit above it. PEERS share a layer and import
# none of each other.
LAYERS: list[tuple[str, ...]] = [
    ("__init__", "errors", "defaults", "paths", "netcheck", "secrets", "passwords", "naming"),
    ("config", "ca_certs", "manifest"),
    ("aws", "packer", "ansible"),  # thin proxies around boto3, the packer binary, ansible-runner
    ("image",),  # build-ami / build-docker
    ("assets",),  # inventory and cleanup of what a run created
    ("export",),  # VM images; create-vm builds the AMI (image) and reports leftovers (assets)
    ("deploy", "release", "dev"),  # independent verb groups
    ("local",),  # local stand-ins: moto, sshd container, images
    ("vm",),  # VM disks from a local image, and booting disk images in QEMU
    ("firstboot",),  # boot what was built (local image or real AMI) and run the first-boot spec
    ("offline_release", "rehearsal"),  # the offline release: everything above, against local stand-ins
    ("console", "cli", "__main__"),  # the edge: prints and asks
]
PEERS = {"deploy", "release", "dev"}
EDGE = {"console", "cli", "__main__"}
PRESENTATION = ("typer", "rich", "click", "xal.console")
# modules imported inside functions, and why that is worth it
LAZY = {
    "boto3": "imports botocore: ~150 ms that only AWS commands should pay",
    "botocore": "~150 ms that only AWS commands should pay",
    "moto": "test/rehearsal dependency (extra 'local'), ~1 s to import",
    "rich": "only commands that print tables or progress pay for it",
    "github": "PyGithub: only the release commands need it",
    "ansible_runner": "only playbook runs need it",
    "passlib": "only password hashing needs it",
    "hcl2": "only the variable check before a Packer build needs it",
    "yaml": "only playbook-variable files need it",
    "requests": "only the GitHub upload and the first-boot test's HTTP checks need it",
    "testinfra": "pytest-testinfra imports pytest: only the first-boot test needs it",
    "drawsvg": "only drawing the release timeline needs it",
    "pypiserver": "test/rehearsal dependency (extra 'local'): only a local wheel index needs it",
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. xal.export.pipeline
    target: str  # the imported module, e.g. xal.aws.session or botocore.exceptions
    line: int
    in_function: bool
    type_checking: bool


def _unit(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("xal", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        guarded = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        functions = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" if node.module == "xal" else node.module for a in node.names]
            else:
                continue
            for target in dict.fromkeys(targets):
                found.append(Import(module, target, node.lineno, id(node) in functions, id(node) in guarded))
    return found


IMPORTS = _imports()
RANK = {unit: (rank, index) for rank, layer in enumerate(LAYERS) for index, unit in enumerate(layer)}


def _where(i: Import) -> str:
    return f"{i.module}:{i.line} imports {i.target}"


def test_every_unit_has_a_layer() -> None:
    units = {_unit(i.module) for i in IMPORTS} | {p.stem for p in PACKAGE.glob("*.py")}
    units |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert sorted(units - set(RANK)) == []


def test_no_module_imports_a_layer_above_it_or_a_peer() -> None:
    wrong = []
    for i in IMPORTS:
        if not i.target.startswith("xal"):
            continue
        source, target = _unit(i.module), _unit(i.target)
        if source == target or target not in RANK:
            continue
        if RANK[target] > RANK[source]:
            wrong.append(f"{_where(i)} (a layer above)")
        elif source in PEERS and target in PEERS:
            wrong.append(f"{_where(i)} (a peer)")
    assert wrong == []


def test_only_the_edge_prints_or_asks() -> None:
    wrong = [
        _where(i)
        for i in IMPORTS
        if _unit(i.module) not in EDGE and any(i.target == p or i.target.startswith(p + ".") for p in PRESENTATION)
    ]
    assert wrong == []


def test_function_level_imports_only_where_they_keep_help_fast() -> None:
    """Heavy third-party modules may be imported late (LAZY says why); xal's own modules are
    imported late only by the CLI, whose command modules must load in a blink for ``--help``."""
    wrong = []
    for i in IMPORTS:
        if not i.in_function or i.type_checking:
            continue
        root = i.target.split(".")[0]
        if root == "xal":
            if _unit(i.module) not in EDGE:
                wrong.append(_where(i))
        elif root not in LAZY:
            wrong.append(_where(i))
    assert wrong == []


@pytest.mark.parametrize("unit", ["cli"])
def test_the_check_sees_imports(unit: str) -> None:
    """Guard against a check that passes because it parsed nothing."""
    assert any(_unit(i.module) == unit and i.target.startswith("xal.") for i in IMPORTS)
    assert any(i.in_function for i in IMPORTS)
