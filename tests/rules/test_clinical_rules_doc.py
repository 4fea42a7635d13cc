"""docs/clinical-rules.md says what the rule files do: the doc is checked against every bundled rule file.

* the "Rule files" table has one row per rule file with its id, folder, version, card topic, hooks, indicator and
  every parameter with its default (and no row for a rule that does not exist);
* every rule has a section: its id appears (in backticks) in the numbered sections after the overview;
* every row of a "| Parameter | Default | Source |" table names a parameter of a rule of that section, with the
  same default;
* every kebab-case name in backticks is something the rule set defines (a rule id, card topic, hook, exclusive
  group, suggestion id, override reason or value set), so the doc names no rule or element that does not exist.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "clinical-rules.md"
TABLE_HEADER = "| Rule id | File | Version | Topic | Hooks | Indicator | Parameters (default) |"
NONE = "—"


@cache
def rule_files() -> dict[str, tuple[Path, dict[str, Any]]]:
    rules = {}
    for path in sorted((REPO / "rules").glob("*/*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and "hooks" in doc:
            rules[doc["id"]] = (path, doc)
    return rules


@cache
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _unquote(cell: str) -> str:
    return cell.strip().strip("`")


@cache
def rule_table() -> dict[str, list[str]]:
    lines = doc_text().splitlines()
    start = lines.index(TABLE_HEADER)
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        rule_id = _unquote(cells[0])
        assert rule_id not in rows, f"docs/clinical-rules.md: rule {rule_id} listed twice"
        rows[rule_id] = cells
    return rows


def parse_parameters(cell: str) -> dict[str, Any]:
    if cell == NONE:
        return {}
    out = {}
    for part in re.findall(r"`([a-z_][a-z0-9_]*)` = ([^,|]+)", cell):
        out[part[0]] = yaml.safe_load(part[1].strip())
    return out


def test_the_rule_table_lists_exactly_the_rule_files() -> None:
    assert sorted(rule_table()) == sorted(rule_files())


@pytest.mark.parametrize("rule_id", sorted(rule_files()))
def test_the_rule_table_row_matches_the_rule_file(rule_id: str) -> None:
    path, rule = rule_files()[rule_id]
    cells = rule_table()[rule_id]
    card = rule.get("card") or {}
    folder, version, topic, hooks, indicator, parameters = cells[1:7]
    assert folder == f"{path.parent.name}/", f"{rule_id}: folder"
    assert version == str(rule["version"]), f"{rule_id}: version {version} in the doc, {rule['version']} in {path.name}"
    assert topic == card.get("topic", NONE), f"{rule_id}: topic"
    assert {h.strip() for h in hooks.split(",")} == set(rule["hooks"]), f"{rule_id}: hooks"
    assert indicator == card.get("indicator", NONE), f"{rule_id}: indicator"
    expected = {name: spec.get("default") for name, spec in (rule.get("parameters") or {}).items()}
    assert parse_parameters(parameters) == expected, f"{rule_id}: parameters and defaults"


@pytest.mark.parametrize("rule_id", sorted(rule_files()))
def test_every_rule_has_a_section(rule_id: str) -> None:
    text = doc_text()
    body = text[text.index("\n## 1. ") :]  # the numbered sections, after the overview
    assert f"`{rule_id}`" in body, f"docs/clinical-rules.md: no section mentions `{rule_id}`"


def _sections(text: str) -> list[str]:
    return re.split(r"\n(?=##+ )", text)


def test_every_parameter_table_row_matches_a_rule_of_its_section() -> None:
    rules = rule_files()
    problems = []
    checked = 0
    for section in _sections(doc_text()):
        in_section = [doc for rid, (_, doc) in rules.items() if f"`{rid}`" in section]
        lines = section.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("| Parameter | Default |"):
                continue
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                name, default = _unquote(_cells(row)[0]), yaml.safe_load(_cells(row)[1])
                owners = [r for r in in_section if name in (r.get("parameters") or {})]
                checked += 1
                if not owners:
                    problems.append(f"{name}: not a parameter of the rules of section {lines[0]!r}")
                for owner in owners:
                    if owner["parameters"][name].get("default") != default:
                        problems.append(f"{name}: {default} in the doc, {owner['parameters'][name].get('default')} in {owner['id']}")
    assert checked >= 10
    assert problems == []


def _defined_names() -> set[str]:
    names: set[str] = {"patient-view", "encounter-start", "encounter-discharge"}
    for _, rule in rule_files().values():
        names.add(rule["id"])
        if rule.get("exclusive"):
            names.add(rule["exclusive"]["group"])
        card = rule.get("card") or {}
        names |= {r["code"] for r in card.get("override_reasons", [])}
        names |= {s["id"] for s in card.get("suggestions", [])}
    topics = yaml.safe_load((REPO / "rules" / "codesystems" / "card-topic.yaml").read_text(encoding="utf-8"))
    names |= {c["code"] for c in topics["concepts"]}
    for path in (REPO / "rules" / "valuesets").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names |= {vs["id"] for vs in data.get("valuesets", []) + data.get("labs", [])}
    return names


def test_the_doc_names_no_rule_or_rule_element_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"`([a-z]+(?:[-.][a-z0-9]+)*-[a-z0-9]+)`", doc_text()))
    assert sorted(mentioned - _defined_names()) == []


def test_the_parameter_parser_reads_numbers_and_lists() -> None:
    assert parse_parameters("`a` = 1, `b_c` = 0.1") == {"a": 1, "b_c": 0.1}
    assert parse_parameters(NONE) == {}
