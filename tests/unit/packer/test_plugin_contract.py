"""Contract: what the shipped Packer templates set exists in the config spec of the pinned plugins.

No Packer binary: the specs are the plugins' generated ``*.hcl2spec.go`` files at the pinned versions,
recorded as JSON in data/specs/<set>/<component>.json (data/specs/README.md says where each came from
and how to refresh them). The templates are read at test time with python-hcl2, so any edit to
packer/ is checked against the recorded specs. Only names and broad kinds are compared (string,
number, bool, list, map, nested block); ``${...}`` expressions count as the declared type of the
variable or local they name, and as "could be anything" otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

PACKER_DIR = Path(__file__).resolve().parents[3] / "packer"
SPECS_DIR = Path(__file__).parent / "data" / "specs"
REQUIRED_PLUGINS_FILE = "plugins/required_plugins.pkr.hcl"

# Which templates each set ships (xal picks the amazon-ebs file by Packer version).
SETS: dict[str, tuple[str, ...]] = {
    "current": ("ai-lab.pkr.hcl", "amazon-ebs/current.pkr.hcl"),  # Packer >= 1.7 with the plugins
    "legacy": ("ai-lab.pkr.hcl", "amazon-ebs/legacy.pkr.hcl"),  # Packer 1.6.6, components built in
}

# (block type, component type) -> (spec file in data/specs/<set>/, plugin it comes from; None: Packer core)
COMPONENTS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("source", "amazon-ebs"): ("amazon-ebs", "amazon"),
    ("source", "docker"): ("docker", "docker"),
    ("provisioner", "ansible"): ("ansible", "ansible"),
    ("post-processor", "docker-tag"): ("docker-tag", "docker"),
    ("post-processor", "manifest"): ("manifest", None),
}

# Attributes Packer core decodes itself before it hands the rest of the block to the plugin, so they are
# in no plugin's spec: the `hcl:"..."` fields of ProvisionerBlock / PostProcessorBlock in
# hcl2template/types.build.provisioners.go and types.build.post-processor.go (same at v1.6.6 and v1.16.0,
# except continue_on_error, which 1.6.6 lacks). `override` is core too; its contents are checked below.
_CORE_PROVISIONER = {
    "name": "string",
    "only": "list",
    "except": "list",
    "override": "map",
    "max_retries": "number",
    "pause_before": "string",
    "timeout": "string",
}
_CORE_POST_PROCESSOR = {"name": "string", "only": "list", "except": "list", "keep_input_artifact": "bool"}
CORE_ATTRIBUTES: dict[str, dict[str, dict[str, str]]] = {
    "legacy": {"source": {}, "provisioner": _CORE_PROVISIONER, "post-processor": _CORE_POST_PROCESSOR},
    "current": {
        "source": {},
        "provisioner": _CORE_PROVISIONER | {"continue_on_error": "bool"},
        "post-processor": _CORE_POST_PROCESSOR,
    },
}

# cty converts between these scalar kinds (a string is fine for any scalar; numbers and bools become strings).
_ACCEPTS = {
    "string": {"string", "number", "bool"},
    "number": {"number", "string"},
    "bool": {"bool", "string"},
    "list": {"list"},
    "map": {"map"},
}
_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=True)
_VAR_OR_LOCAL = re.compile(r"\$\{(var|local)\.([A-Za-z_][\w-]*)\}")


# -- reading the templates ------------------------------------------------------------------------------


def _unquote(label: str) -> str:
    return label[1:-1] if label.startswith('"') and label.endswith('"') else label


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _body(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if not k.startswith("__")}


def _labelled(blocks: list[dict[str, Any]], depth: int) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """(labels, body) of each `kind "l1" "l2" { ... }` block as python-hcl2 nests it."""
    out: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def walk(node: dict[str, Any], labels: tuple[str, ...]) -> None:
        if len(labels) == depth:
            out.append((labels, _body(node)))
            return
        for label, child in _body(node).items():
            walk(child, (*labels, _unquote(label)))

    for block in blocks:
        walk(block, ())
    return out


@dataclass
class Where:
    """A block of a template, for messages."""

    file: str
    path: str


@dataclass
class Templates:
    variables: dict[str, str] = field(default_factory=dict)  # name -> kind of its declared type
    locals: dict[str, Any] = field(default_factory=dict)
    sources: dict[tuple[str, str], tuple[Where, dict[str, Any]]] = field(default_factory=dict)
    builds: list[tuple[Where, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _type_kind(type_expr: Any) -> str:
    text = str(type_expr).removeprefix("${").removesuffix("}").strip()
    head = text.split("(", 1)[0]
    kinds = {"string": "string", "number": "number", "bool": "bool", "list": "list", "set": "list"}
    kinds |= {"tuple": "list", "map": "map", "object": "map"}
    return kinds.get(head, "expression")


def load_templates(directory: Path, files: tuple[str, ...]) -> Templates:
    templates = Templates()
    for name in files:
        with (directory / name).open() as fh:
            doc = hcl2.load(fh, serialization_options=_OPTIONS)
        for (var,), body in _labelled(doc.get("variable", []), 1):
            templates.variables[var] = _type_kind(body.get("type", "any"))
        for block in doc.get("locals", []):
            templates.locals |= _body(block)
        for (kind, label), body in _labelled(doc.get("source", []), 2):
            if (kind, label) in templates.sources:
                templates.problems.append(f"{name}: source.{kind}.{label} is defined twice")
            templates.sources[(kind, label)] = (Where(name, f"source.{kind}.{label}"), body)
        for index, block in enumerate(doc.get("build", [])):
            templates.builds.append((Where(name, f"build[{index}]"), _body(block)))
    return templates


def value_kind(value: Any, templates: Templates, seen: frozenset[str] = frozenset()) -> str:
    """The broad kind of an attribute value as python-hcl2 returns it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    text = str(value)
    if text.startswith('"'):  # a string literal, with or without interpolations
        return "string"
    ref = _VAR_OR_LOCAL.fullmatch(text)
    if ref and ref[1] == "var" and ref[2] in templates.variables:
        return templates.variables[ref[2]]
    if ref and ref[1] == "local" and ref[2] in templates.locals and ref[2] not in seen:
        return value_kind(templates.locals[ref[2]], templates, seen | {ref[2]})
    return "expression"  # any other expression: its type is not known here


# -- the check -------------------------------------------------------------------------------------------


@cache
def load_spec(set_name: str, component: str) -> dict[str, Any]:
    return json.loads((SPECS_DIR / set_name / f"{component}.json").read_text())


def _in(file: str, spec: dict[str, Any], problems: list[str]) -> list[str]:
    """Prefix each problem with its template file and suffix it with the spec it was checked against."""
    src = spec["_source"]
    return [f"{file}: {p} [{src['repository']} {src['version']} {src['file']}]" for p in problems]


_DYNAMIC_KEYS = {"for_each", "iterator", "labels", "content"}


def _blocks_and_attributes(body: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """body with each `dynamic "X" { content { ... } }` folded into the X blocks it generates."""
    out = {k: v for k, v in body.items() if k != "dynamic"}
    dynamics = body.get("dynamic", [])
    if not isinstance(dynamics, list) or not all(isinstance(d, dict) for d in dynamics):
        problems.append(f"{where}: 'dynamic' must be labelled blocks: dynamic \"<block type>\" {{ ... }}")
        dynamics = []
    for (label,), dynamic in _labelled(dynamics, 1):
        if set(dynamic) - _DYNAMIC_KEYS or not _is_block(dynamic.get("content")):
            problems.append(f"{where}: dynamic {label!r} needs for_each and one content block, nothing else")
            continue
        out[label] = [*(out[label] if _is_block(out.get(label)) else []), *dynamic["content"]]
    return out


def check_body(
    body: dict[str, Any], spec: dict[str, Any], core: dict[str, str], templates: Templates, where: str
) -> list[str]:
    """Every attribute and nested block of body against spec (plus the core attributes); the problems."""
    problems: list[str] = []
    for name, value in sorted(_blocks_and_attributes(body, where, problems).items()):
        declared = core.get(name, spec.get(name))
        block_kind = next(iter(declared)) if isinstance(declared, dict) else declared
        if declared is None:
            what = "block" if _is_block(value) else "attribute"
            problems.append(f"{where}: {what} {name!r} is not in the spec")
        elif _is_block(value) != (block_kind in ("block", "block_list")):
            given = "a block" if _is_block(value) else "an attribute"
            problems.append(f"{where}: {name!r} is set as {given}, the spec has {block_kind!r}")
        elif block_kind == "block" and len(value) > 1:
            problems.append(f"{where}: block {name!r} may appear once, it appears {len(value)} times")
        elif isinstance(declared, dict):  # a nested block whose spec is recorded: check its body too
            for index, block in enumerate(value):
                suffix = f"[{index}]" if len(value) > 1 else ""
                problems += check_body(_body(block), declared[block_kind], {}, templates, f"{where}.{name}{suffix}")
        elif block_kind not in ("block", "block_list", "dynamic"):
            kind = value_kind(value, templates)
            if kind not in ("null", "expression") and kind not in _ACCEPTS[declared]:
                problems.append(f"{where}: {name!r} is a {kind}, the spec wants a {declared}")
    return problems


def _spec_for(set_name: str, block_type: str, component: str, where: str) -> tuple[dict[str, Any] | None, str]:
    entry = COMPONENTS.get((block_type, component))
    if entry is None:
        return None, f"{where}: no spec recorded for {block_type} {component!r} (add it to data/specs/{set_name}/)"
    return load_spec(set_name, entry[0]), ""


def check_set(set_name: str, directory: Path = PACKER_DIR) -> list[str]:
    """All contract problems of one set's templates in directory, as messages."""
    templates = load_templates(directory, SETS[set_name])
    problems = list(templates.problems)
    core = CORE_ATTRIBUTES[set_name]

    for (kind, _label), (where, body) in sorted(templates.sources.items()):
        spec, problem = _spec_for(set_name, "source", kind, f"{where.file}: {where.path}")
        if spec is None:
            problems.append(problem)
            continue
        problems += _in(where.file, spec, check_body(body, spec["attributes"], core["source"], templates, where.path))

    for where, build in templates.builds:
        used: dict[str, str] = {}  # source name -> type, for override keys and only/except
        for ref in build.get("sources", []):
            parts = _unquote(str(ref)).split(".")
            if len(parts) != 3 or parts[0] != "source" or (parts[1], parts[2]) not in templates.sources:
                problems.append(f"{where.file}: {where.path}: sources entry {ref} names no source of this set")
            else:
                used[parts[2]] = parts[1]
        for (ref,), body in _labelled(build.get("source", []), 1):  # `source "source.T.N" { ... }` in build
            parts = ref.split(".")
            if len(parts) != 3 or (parts[1], parts[2]) not in templates.sources:
                problems.append(f"{where.file}: {where.path}: source block {ref} names no source of this set")
                continue
            used[body.get("name", parts[2]).strip('"')] = parts[1]
            path = f"{where.path}.source.{ref}"
            spec, problem = _spec_for(set_name, "source", parts[1], f"{where.file}: {path}")
            if spec is None:
                problems.append(problem)
                continue
            problems += _in(where.file, spec, check_body(body, spec["attributes"], {"name": "string"}, templates, path))
        targets = {f"{t}.{n}" for n, t in used.items()}

        for block_type in ("provisioner", "post-processor"):
            for index, ((component,), body) in enumerate(_labelled(build.get(block_type, []), 1)):
                path = f"{where.path}.{block_type}[{index}] {component!r}"
                spec, problem = _spec_for(set_name, block_type, component, f"{where.file}: {path}")
                if spec is None:
                    problems.append(problem)
                    continue
                found = check_body(body, spec["attributes"], core[block_type], templates, path)
                for key in ("only", "except"):
                    values = body.get(key, [])
                    for target in values if isinstance(values, list) else []:
                        if _unquote(str(target)) not in targets:
                            found.append(f"{path}: {key} entry {target} is no source of this build")
                override = body.get("override", {})
                for source_name, attributes in override.items() if isinstance(override, dict) else []:
                    # Packer looks overrides up by source name (hcl2template: pb.Override[source.name()]) and
                    # hands them to the plugin's Prepare: only plugin attributes can go here.
                    if source_name not in used:
                        found.append(f"{path}: override key {source_name!r} is no source name of this build")
                    if isinstance(attributes, dict):
                        found += check_body(
                            attributes, spec["attributes"], {}, templates, f"{path}.override.{source_name}"
                        )
                problems += _in(where.file, spec, found)
    return problems


def _fail_on(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} contract problem(s):\n" + "\n".join(problems)


# -- tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_templates_only_set_what_the_pinned_specs_define(set_name: str) -> None:
    _fail_on(check_set(set_name))


def _required_plugins(directory: Path = PACKER_DIR) -> dict[str, dict[str, str]]:
    with (directory / REQUIRED_PLUGINS_FILE).open() as fh:
        doc = hcl2.load(fh, serialization_options=_OPTIONS)
    entries: dict[str, dict[str, str]] = {}
    for packer in doc.get("packer", []):
        for block in packer.get("required_plugins", []):
            for name, entry in _body(block).items():
                entries[name] = {k: _unquote(str(v)) for k, v in entry.items()}
    return entries


def _plugins_used(set_name: str, directory: Path = PACKER_DIR) -> set[str]:
    templates = load_templates(directory, SETS[set_name])
    used = {kind for kind, _ in templates.sources}
    components = {("source", kind) for kind in used}
    for _, build in templates.builds:
        for block_type in ("provisioner", "post-processor"):
            components |= {(block_type, c) for (c,), _ in _labelled(build.get(block_type, []), 1)}
    return {COMPONENTS[c][1] for c in components if c in COMPONENTS and COMPONENTS[c][1] is not None}


def _missing_plugins(directory: Path = PACKER_DIR) -> list[str]:
    sources = {entry.get("source") for entry in _required_plugins(directory).values()}
    return sorted(p for p in _plugins_used("current", directory) if f"github.com/hashicorp/{p}" not in sources)


def test_required_plugins_lists_every_plugin_the_current_templates_use() -> None:
    # Failed on the files committed at a5c53fc (no docker entry: `packer init` would not install the plugin
    # for source "docker" / post-processor "docker-tag"); the docker entry fixes it.
    missing = _missing_plugins()
    assert not missing, f"{REQUIRED_PLUGINS_FILE} has no source for plugin(s) {missing}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().lstrip("v").split("-", 1)[0].split("."))


def _admits(constraints: str, version: str) -> bool:
    """Whether a Packer/Go-version constraint string (">= 1.3.0, < 2", "~> 1.8") admits version."""
    have = _version(version)
    for constraint in constraints.split(","):
        op, want_text = re.fullmatch(r"\s*(>=|<=|!=|~>|>|<|=)?\s*(\S+)\s*", constraint).groups()  # type: ignore[union-attr]
        want = _version(want_text)
        padded = have[: len(want)] + (0,) * (len(want) - len(have))
        ok = {
            ">=": have >= want,
            "<=": padded <= want,
            ">": have > want,
            "<": have < want,
            "!=": padded != want,
            "~>": have >= want and have[: len(want) - 1] == want[:-1],
        }.get(op or "=", padded == want)
        if not ok:
            return False
    return True


def test_required_plugins_constraints_admit_the_recorded_versions() -> None:
    problems = []
    for name, entry in sorted(_required_plugins().items()):
        plugin = entry.get("source", "").rsplit("/", 1)[-1]
        specs = [c for (c, p) in COMPONENTS.values() if p == plugin]
        for component in specs:
            version = load_spec("current", component)["_source"]["version"]
            if not _admits(entry.get("version", ""), version):
                problems.append(f"{name}: version {entry.get('version')!r} excludes the recorded {version}")
    _fail_on(problems)


def test_constraint_matching() -> None:
    assert _admits(">= 1.3.0", "v1.8.2")
    assert not _admits(">= 1.3.0, < 1.8", "v1.8.2")
    assert _admits("~> 1.8", "v1.8.2")
    assert not _admits("~> 1.8.3", "v1.8.2")
    assert _admits("1.8.2", "v1.8.2")


def test_recorded_specs_have_their_source_header() -> None:
    for path in sorted(SPECS_DIR.glob("*/*.json")):
        data = json.loads(path.read_text())
        assert set(data) == {"_source", "attributes"}, path
        assert {"repository", "version", "commit", "file"} <= set(data["_source"]), path
        assert re.fullmatch(r"[0-9a-f]{40}", data["_source"]["commit"]), path
    for set_name in SETS:
        for component, _ in COMPONENTS.values():
            assert (SPECS_DIR / set_name / f"{component}.json").is_file(), (set_name, component)


# -- the check catches breakage (on a copy of packer/, never on the real templates) ------------------------

_DOCKER = 'source "docker" "extra" {{\n  image  = "x"\n  commit = true\n{}\n}}\n'
_EBS = 'source "amazon-ebs" "extra" {{\n  region = "x"\n{}\n}}\n'
_BUILD = 'build {{\n  sources = ["source.docker.ai_lab_image"]\n{}\n}}\n'
_POLICY = """  dynamic "temporary_iam_instance_profile_policy_document" {
    for_each = [1]
    content {
      Version = "2012-10-17"
      Bogus   = "x"
    }
  }"""


def _broken_copy(tmp_path: Path, file: str, addition: str) -> Path:
    """A copy of packer/ with addition appended to file (new blocks, so no anchor in today's text is needed)."""
    copy = tmp_path / "packer"
    shutil.copytree(PACKER_DIR, copy)
    with (copy / file).open("a") as fh:
        fh.write("\n" + addition)
    return copy


@pytest.mark.parametrize(
    ("set_name", "file", "addition", "expected"),
    [
        pytest.param(
            "current",
            "ai-lab.pkr.hcl",
            _DOCKER.format('  bogus_attr = "x"'),
            "ai-lab.pkr.hcl: source.docker.extra: attribute 'bogus_attr' is not in the spec "
            "[hashicorp/packer-plugin-docker v1.1.4 builder/docker/config.hcl2spec.go]",
            id="unknown-source-attribute",
        ),
        pytest.param(
            "legacy",
            "ai-lab.pkr.hcl",
            _BUILD.format('  post-processor "manifest" {\n    bogus_attr = "x"\n  }'),
            "'manifest': attribute 'bogus_attr' is not in the spec "
            "[hashicorp/packer v1.6.6 post-processor/manifest/post-processor.hcl2spec.go]",
            id="unknown-post-processor-attribute",
        ),
        pytest.param(
            "current",
            "amazon-ebs/current.pkr.hcl",
            _EBS.format('  launch_block_device_mappings {\n    bogus_attr = "x"\n  }'),
            "source.amazon-ebs.extra.launch_block_device_mappings: attribute 'bogus_attr' is not in the spec",
            id="unknown-nested-attribute",
        ),
        pytest.param(
            "current",
            "amazon-ebs/current.pkr.hcl",
            _EBS.format(_POLICY),
            "source.amazon-ebs.extra.temporary_iam_instance_profile_policy_document: attribute 'Bogus' is not",
            id="unknown-attribute-in-dynamic-content",
        ),
        pytest.param(
            "legacy",
            "amazon-ebs/legacy.pkr.hcl",
            _EBS.format('  metadata_options {\n    http_tokens = "required"\n  }'),
            "source.amazon-ebs.extra: block 'metadata_options' is not in the spec [hashicorp/packer v1.6.6",
            id="block-the-legacy-builder-lacks",
        ),
        pytest.param(
            "current",
            "amazon-ebs/current.pkr.hcl",
            _EBS.format("  source_ami_filter = {\n    owners = []\n  }"),
            "'source_ami_filter' is set as an attribute, the spec has 'block'",
            id="block-written-as-attribute",
        ),
        pytest.param(
            "current",
            "ai-lab.pkr.hcl",
            _DOCKER.format('  run_command = "-d"'),
            "'run_command' is a string, the spec wants a list",
            id="kind-mismatch",
        ),
        pytest.param(
            "legacy",
            "ai-lab.pkr.hcl",
            _DOCKER.format("  bogus_block {\n  }"),
            "source.docker.extra: block 'bogus_block' is not in the spec",
            id="unknown-block",
        ),
        pytest.param(
            "current",
            "ai-lab.pkr.hcl",
            _BUILD.format('  provisioner "ansible" {\n    override = {\n      nope = { bogus_attr = 1 }\n    }\n  }'),
            "override key 'nope' is no source name of this build",
            id="override-for-no-source",
        ),
        pytest.param(
            "current",
            "ai-lab.pkr.hcl",
            _BUILD.format(
                '  provisioner "ansible" {\n    override = {\n      ai_lab_image = { bogus_attr = 1 }\n    }\n  }'
            ),
            ".override.ai_lab_image: attribute 'bogus_attr' is not in the spec",
            id="unknown-override-attribute",
        ),
        pytest.param(
            "current",
            "ai-lab.pkr.hcl",
            _BUILD.format('  post-processor "checksum" {\n  }'),
            "no spec recorded for post-processor 'checksum'",
            id="component-without-spec",
        ),
    ],
)
def test_the_check_reports_a_broken_copy(
    tmp_path: Path, set_name: str, file: str, addition: str, expected: str
) -> None:
    assert not any(expected in p for p in check_set(set_name)), "the real templates already have this problem"
    problems = check_set(set_name, _broken_copy(tmp_path, file, addition))
    assert any(expected in p for p in problems), problems


def test_the_required_plugins_check_reports_a_missing_plugin(tmp_path: Path) -> None:
    copy = tmp_path / "packer"
    shutil.copytree(PACKER_DIR, copy)
    (copy / REQUIRED_PLUGINS_FILE).write_text(
        'packer {\n  required_plugins {\n    amazon = {\n      version = "~> 1.8.0"\n'
        '      source  = "github.com/hashicorp/amazon"\n    }\n  }\n}\n'
    )
    assert _missing_plugins(copy) == ["ansible", "docker"]
