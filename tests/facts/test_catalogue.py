"""docs/facts.md is generated from PatientSnapshot and must not go stale."""

from __future__ import annotations

from pathlib import Path

from cds.facts.catalogue import DEFAULT_PATH, main, render, type_name
from cds.facts.snapshot import PatientSnapshot


def test_docs_facts_md_is_up_to_date() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), "run: python -m cds.facts.catalogue"


def test_every_snapshot_field_is_in_the_catalogue() -> None:
    text = render()
    assert all(f"| `{name}` |" in text for name in PatientSnapshot.model_fields)


def test_nested_types_are_documented() -> None:
    text = render()
    for nested in ("CfsFact", "LabFact", "EventFact", "ScoreItem"):
        assert f"### {nested}" in text


def test_optional_and_list_types_read_naturally() -> None:
    assert type_name(int | None) == "int?"
    assert type_name(tuple[str, ...] | None) == "list[str]?"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "facts.md"
    stale.write_text("old\n", encoding="utf-8")
    assert main(["--check", "--path", str(stale)]) == 1
    assert main(["--path", str(stale)]) == 0
    assert main(["--check", "--path", str(stale)]) == 0


def test_fhir_conventions_document_every_fact_the_builder_fills() -> None:
    conventions = (DEFAULT_PATH.parent / "fhir-conventions.md").read_text(encoding="utf-8")
    added_later = {"now", "patient_key", "scores", "readmission_risk"}
    missing = [
        name for name in PatientSnapshot.model_fields if name not in added_later and f"`{name}`" not in conventions
    ]
    assert missing == []
