"""The generated fact catalogue (docs/facts.md), from PatientSnapshot's field metadata.

python -m cds.facts.catalogue            # rewrite docs/facts.md
python -m cds.facts.catalogue --check    # exit 1 when docs/facts.md is stale
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cds.facts.snapshot import PatientSnapshot

__all__ = ["DEFAULT_PATH", "render", "type_name"]

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "docs" / "facts.md"

_HEADER = """# Fact catalogue

Generated from `cds.facts.snapshot.PatientSnapshot` by `python -m cds.facts.catalogue`;
do not edit by hand (a test fails when this file is stale). How each fact is read
from FHIR, and when False / 0 / an empty list is concluded, is in
[fhir-conventions.md](fhir-conventions.md). `None` always means *unknown*.
"""


def type_name(annotation: Any) -> str:
    """A short, readable name for a field annotation (``int | None`` -> ``int?``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = " | ".join(type_name(a) for a in rest)
        return f"{inner}?" if len(rest) < len(args) else inner
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list[{type_name(args[0])}]"
        return f"tuple[{', '.join(type_name(a) for a in args)}]"
    if origin is dict:
        return f"dict[{type_name(args[0])}, {type_name(args[1])}]"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return f"{annotation.__name__} ({', '.join(str(m.value) for m in annotation)})"
        return annotation.__name__
    return str(annotation)


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _nested_models(arg)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The catalogue as Markdown."""
    lines = [_HEADER, "| Fact | Type | Unit | Description | FHIR |", "|---|---|---|---|---|"]
    nested: dict[str, type[BaseModel]] = {}
    for name, field in PatientSnapshot.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        fhir = "; ".join(f"`{p}`" for p in extra.get("fhir", []) or [])
        unit = str(extra.get("unit", ""))
        lines.append(
            f"| `{name}` | {_cell(type_name(field.annotation))} | {unit} | {_cell(field.description or '')} | {_cell(fhir)} |"
        )
        for model in _nested_models(field.annotation):
            nested.setdefault(model.__name__, model)
    pending = list(nested.values())
    while pending:
        for field in pending.pop().model_fields.values():
            for model in _nested_models(field.annotation):
                if model.__name__ not in nested:
                    nested[model.__name__] = model
                    pending.append(model)
    lines.append("")
    lines.append("## Nested types")
    for model_name in sorted(nested):
        model = nested[model_name]
        lines += ["", f"### {model_name}", ""]
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            lines += [doc[0], ""]
        lines += ["| Field | Type | Description |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            lines.append(f"| `{name}` | {_cell(type_name(field.annotation))} | {_cell(field.description or '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/facts.md from PatientSnapshot")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale instead of writing")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run python -m cds.facts.catalogue", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
