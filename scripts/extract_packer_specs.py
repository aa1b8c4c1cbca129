#!/usr/bin/env python3
"""Print the HCL2 config spec of a Packer component as JSON: {attribute name: kind}.

Packer plugins (and Packer core before 1.7) ship generated ``*.hcl2spec.go`` files: for every
``FlatX`` struct a ``func (*FlatX) HCL2Spec() map[string]hcldec.Spec`` whose entries are
``&hcldec.AttrSpec{Name: ..., Type: cty.String, ...}`` or ``&hcldec.BlockSpec`` /
``&hcldec.BlockListSpec{TypeName: ..., Nested: hcldec.ObjectSpec((*pkg.FlatY)(nil).HCL2Spec())}``.
This script reads FILE (a path, or ``-`` for stdin), takes the spec of ``--struct`` (default
``FlatConfig``) and prints each attribute's kind: "string", "number", "bool", "list", "map" or
"dynamic" (cty.DynamicPseudoType). A nested block becomes ``{"block": {...}}`` or
``{"block_list": {...}}`` when its ``FlatY`` is defined in FILE or in an ``--include`` file, and the
bare string "block" / "block_list" (with a warning on stderr) when it is not.

Used to refresh tests/unit/packer/data/specs/ (the README there has the exact commands for every
file); e.g. with a git mirror of the plugin in $AMAZON::

    git -C "$AMAZON" show v1.8.2:builder/ebs/builder.hcl2spec.go \\
      | scripts/extract_packer_specs.py - --include <(git -C "$AMAZON" show v1.8.2:common/run_config.hcl2spec.go)

--include takes files holding one or more concatenated ``*.hcl2spec.go`` sources.
With any of --repository/--version/--commit/--file/--nested-from the output is wrapped as
``{"_source": {...}, "attributes": {...}}``, the layout of the data files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

_FUNC = re.compile(r"^func \(\*(\w+)\) HCL2Spec\(\) map\[string\]hcldec\.Spec \{$", re.MULTILINE)
_ENTRY = re.compile(r'^\s*"(?P<key>[^"]+)":\s*&hcldec\.(?P<spec>\w+)\{(?P<body>.*)\},?\s*$')
_TYPE = re.compile(r"\bType:\s*(?P<type>.+?)(?:,\s*Required:.*)?$")
_NESTED = re.compile(r"\(\*(?:\w+\.)?(?P<struct>\w+)\)\(nil\)\.HCL2Spec\(\)")
_BLOCK_KINDS = {"BlockSpec": "block", "BlockListSpec": "block_list", "BlockSetSpec": "block_list"}

Entries = dict[str, tuple[str, str]]  # attribute name -> (hcldec spec kind, rest of the literal)


def parse_structs(source: str) -> dict[str, Entries]:
    """Return the raw entries of every ``HCL2Spec()`` map in one ``*.hcl2spec.go`` file, by struct."""
    structs: dict[str, Entries] = {}
    for match in _FUNC.finditer(source):
        body = source[match.end() : source.index("\n}\n", match.end())]
        entries: Entries = {}
        for line in body.splitlines():
            entry = _ENTRY.match(line)
            if entry:
                entries[entry["key"]] = (entry["spec"], entry["body"])
        structs[match.group(1)] = entries
    return structs


def cty_kind(cty_type: str) -> str:
    """Map a cty type expression (``cty.List(cty.String)``) to its broad kind."""
    head = cty_type.removeprefix("cty.").split("(", 1)[0]
    kinds = {"String": "string", "Number": "number", "Bool": "bool", "List": "list", "Set": "list"}
    kinds |= {"Tuple": "list", "Map": "map", "Object": "map", "DynamicPseudoType": "dynamic"}
    if head not in kinds:
        raise ValueError(f"unknown cty type {cty_type!r}")
    return kinds[head]


def spec_of(struct: str, structs: dict[str, Entries], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Resolve one struct's spec to {name: kind}, nesting the specs of its blocks."""
    result: dict[str, Any] = {}
    for name, (spec, body) in sorted(structs[struct].items()):
        if spec == "AttrSpec":
            type_match = _TYPE.search(body)
            if type_match is None:
                raise ValueError(f"{struct}.{name}: no Type in {body!r}")
            result[name] = cty_kind(type_match["type"].strip())
        elif spec == "BlockAttrsSpec":  # a block whose attributes are free-form: a map
            result[name] = "map"
        elif spec in _BLOCK_KINDS:
            kind = _BLOCK_KINDS[spec]
            nested = _NESTED.search(body)
            if nested and nested["struct"] in structs and nested["struct"] not in seen:
                result[name] = {kind: spec_of(nested["struct"], structs, (*seen, struct))}
            else:
                print(f"warning: {struct}.{name}: nested spec not resolved ({body})", file=sys.stderr)
                result[name] = kind
        else:
            raise ValueError(f"{struct}.{name}: unsupported hcldec spec {spec}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("file", help="the *.hcl2spec.go file, or - for stdin")
    parser.add_argument("--struct", default="FlatConfig", help="struct whose spec to print (default FlatConfig)")
    parser.add_argument("--include", nargs="+", action="extend", default=[], help="files defining nested structs")
    for header in ("repository", "version", "commit"):
        parser.add_argument(f"--{header}", help=f"_source.{header} header")
    parser.add_argument("--file", dest="file_path", help="_source.file header: FILE's path in its repository")
    parser.add_argument("--nested-from", action="append", help="_source.nested_from header: where --include came from")
    args = parser.parse_args(argv)

    structs: dict[str, Entries] = {}
    for include in args.include:  # the main file wins over includes with the same struct name
        structs |= parse_structs(Path(include).read_text())
    main_source = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    structs |= parse_structs(main_source)
    if args.struct not in structs:
        parser.error(f"no HCL2Spec() for {args.struct} in {args.file}")
    attributes = spec_of(args.struct, structs)

    header = {"repository": args.repository, "version": args.version, "commit": args.commit, "file": args.file_path}
    header["nested_from"] = args.nested_from
    out: dict[str, Any] = attributes
    if any(header.values()):
        out = {"_source": {k: v for k, v in header.items() if v}, "attributes": attributes}
    json.dump(out, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
