"""The generated cohort speaks the facts layer's FHIR conventions: the real fact builder reads it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cds.facts import build_snapshot
from cds.fhir.resources import ResourceSet
from cds.quality.calibration import load_codings
from cds.quality.cohort import patient_resources
from cds.quality.kpi_records import parse_instant
from cds.quality.sources import load_terminology


def _valueset_codings(node: Any, path: str = "") -> list[tuple[str, str, dict]]:
    found: list[tuple[str, str, dict]] = []
    if isinstance(node, dict):
        if "valueset" in node and "code" in node and "system" in node:
            found.append((path, node["valueset"], node))
        for key, value in node.items():
            found += _valueset_codings(value, f"{path}.{key}" if path else key)
    return found


@pytest.mark.parametrize(("where", "valueset", "coding"), _valueset_codings(load_codings()))
def test_each_generated_coding_is_in_its_value_set(where: str, valueset: str, coding: dict) -> None:
    assert load_terminology().contains(valueset, coding), f"{where}: {coding['system']}|{coding['code']}"


def test_each_discharge_destination_maps_to_its_value_set() -> None:
    terminology = load_terminology()
    for destination, coding in load_codings()["encounter"]["discharge_disposition"].items():
        assert terminology.first_match("discharge-destination.", [coding]) == f"discharge-destination.{destination}"


def test_each_municipal_service_is_a_municipal_service_code() -> None:
    from cds.quality.calibration import load_calibration

    cal = load_calibration()
    system = cal.codings["municipal_service"]["system"]
    services = set(cal.raw["municipal_services_before"]["service_weights"]) | set(
        cal.raw["municipal_services_before"]["after_discharge_weights"]
    ) | {"short-term-stay", "long-term-stay"}
    terminology = load_terminology()
    for service in services:
        assert terminology.contains(f"municipal-service.{service}", {"system": system, "code": service})


def _first_patient_with(predicate) -> list[dict]:  # type: ignore[no-untyped-def]
    for index in range(500):
        resources = patient_resources(index, 21)
        if predicate(resources):
            return resources
    raise AssertionError("no such patient in the first 500")


def _has_cfs_and_ready(resources: list[dict]) -> bool:
    cfs_encounters = {r["encounter"]["reference"] for r in resources if r.get("valueInteger")}
    return any(
        r["resourceType"] == "Encounter" and r.get("extension") and f"Encounter/{r['id']}" in cfs_encounters
        for r in resources
    )


def test_the_fact_builder_reads_a_generated_frail_patient_at_discharge() -> None:
    resources = _first_patient_with(_has_cfs_and_ready)
    patient = resources[0]
    encounter = next(
        r for r in resources if r["resourceType"] == "Encounter" and any("ready" in e["url"] for e in r.get("extension", []))
    )
    cfs = next(r for r in resources if r.get("valueInteger") and r.get("encounter", {}).get("reference") == f"Encounter/{encounter['id']}")
    now = parse_instant(encounter["period"]["end"]) - timedelta(minutes=1)
    snapshot = build_snapshot(
        ResourceSet.from_json(resources),
        patient_id=patient["id"],
        encounter_id=encounter["id"],
        now=now,
        terminology=load_terminology(),
        patient_key="p_test",
    )
    assert snapshot.municipality == patient["address"][0]["district"]
    assert snapshot.cfs is not None and snapshot.cfs.score == cfs["valueInteger"]
    assert snapshot.lives_alone is not None
    assert snapshot.home_dwelling is not None
    assert snapshot.ready_for_discharge is not None
    assert snapshot.encounter_class == "inpatient"
    assert snapshot.admission_emergent is not None
    assert snapshot.conditions
