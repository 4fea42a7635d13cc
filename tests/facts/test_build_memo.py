"""Per-resource memoisation across builds: a build from shared (cached) models equals a build from fresh ones.

Parsed models are shared between calls (the ResourceSet parse cache), and the
fact builder memoises what it derives from one model (headers, value sets,
lab and encounter facts). Whatever else changes between two builds over the
same models (encounter, clock, time zone, follow-up orders, terminology) must
show in the snapshot exactly as in a first build.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factkit import (
    ADMITTED,
    CET,
    EID,
    LOINC,
    NOW,
    PID,
    SNOMED,
    TERMINOLOGY,
    concept,
    condition,
    encounter,
    observation,
    patient,
)

from cds.facts import build_snapshot
from cds.facts.context import BuildContext, Timeline, in_utc, snapshot_coding
from cds.fhir.resources import ResourceSet, clear_parse_cache
from cds.terminology import Terminology

UCUM = "http://unitsofmeasure.org"
LAB = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]
VALUESETS = Path(__file__).resolve().parents[2] / "rules" / "valuesets"
EARLIER = ADMITTED - timedelta(days=40)


def hb(oid: str, when: datetime | str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return observation(oid, concept(LOINC, "718-7"), when, category=LAB, valueQuantity=quantity, **extra)


RESOURCES: list[dict[str, Any]] = [
    patient(),
    encounter(),
    encounter(
        "earlier",
        start=EARLIER,
        end=EARLIER + timedelta(days=5),
        hospitalization={"dischargeDisposition": concept("urn:example:unknown", "x")},  # an issue per counted build
    ),
    hb("hb-stay", ADMITTED + timedelta(days=1), 10.9, "g/dL", encounter={"reference": f"Encounter/{EID}"}),
    hb("hb-earlier", EARLIER + timedelta(days=1), 120, "g/L", encounter={"reference": "Encounter/earlier"}),
    hb("hb-dated", "2026-11-16", 7.0, "mmol/L"),  # a date only: midnight in the clock's zone
    hb("hb-odd-unit", ADMITTED + timedelta(days=2), 11.0, "mg/mL"),  # an issue per build
    condition("c1", SNOMED, "2776000", recorded=ADMITTED + timedelta(hours=3)),
    {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{PID}"},
        "code": {"text": "repeat Hb"},
        "reasonReference": [{"reference": "Observation/hb-stay"}],
    },
]

CONTEXTS: list[dict[str, Any]] = [
    {"encounter_id": EID, "now": NOW},
    {"encounter_id": None, "now": NOW},
    {"encounter_id": "earlier", "now": EARLIER + timedelta(days=3)},
    {"encounter_id": EID, "now": NOW.astimezone(ZoneInfo("America/New_York"))},
    {"encounter_id": EID, "now": NOW + timedelta(days=60)},
]


def snapshot(resources: ResourceSet, terminology: Terminology = TERMINOLOGY, **context: Any) -> tuple[Any, ...]:
    issues: list[Any] = []
    built = build_snapshot(
        resources, patient_id=PID, terminology=terminology, patient_key="k", issues=issues, **context
    )
    return built.model_dump(), repr(built), [(i.resource_type, i.id, i.message) for i in issues]


def fresh(resources: list[dict[str, Any]]) -> ResourceSet:
    clear_parse_cache()
    return ResourceSet.from_json(resources)


@pytest.mark.parametrize("context", CONTEXTS, ids=range(len(CONTEXTS)))
def test_a_build_after_builds_in_other_contexts_equals_a_first_build(context: dict[str, Any]) -> None:
    shared = fresh(RESOURCES)
    for other in CONTEXTS:
        snapshot(shared, **other)
    again = snapshot(ResourceSet.from_json(RESOURCES), **context)  # the same models, from the parse cache
    assert again == snapshot(fresh(RESOURCES), **context)


def test_follow_up_orders_are_read_per_build_not_from_the_memo() -> None:
    with_order = fresh(RESOURCES)
    without_order = ResourceSet.from_json([r for r in RESOURCES if r["resourceType"] != "ServiceRequest"])
    assert without_order.get("Observation", "hb-stay") is with_order.get("Observation", "hb-stay")

    def followed(resources: ResourceSet) -> bool | None:
        built = build_snapshot(
            resources, patient_id=PID, encounter_id=EID, now=NOW, terminology=TERMINOLOGY, patient_key="k"
        )
        return next(lab.followed_up for lab in built.labs or () if lab.effective == ADMITTED + timedelta(days=1))

    assert followed(with_order) is True
    assert followed(without_order) is None  # no ServiceRequest or Task data: unknown
    assert followed(with_order) is True


def test_another_terminology_is_not_served_from_the_memo(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "labs.yaml").write_text(
        """
labs:
  - id: lab.haemoglobin
    title: Haemoglobin (site code)
    source: site
    canonical_unit: g/dL
    include: [{system: http://lab.example/codes, codes: [{code: HB}]}]
    units: [{unit: g/dL, factor: 1.0}]
""",
        encoding="utf-8",
    )
    merged = Terminology.load(VALUESETS, site)
    quantity = {"value": 9.5, "unit": "g/dL", "system": UCUM, "code": "g/dL"}
    local = observation("local", concept("http://lab.example/codes", "HB"), ADMITTED, valueQuantity=quantity)
    resources = ResourceSet.from_json([patient(), encounter(), local])
    context = {"encounter_id": EID, "now": NOW}
    assert snapshot(resources, TERMINOLOGY, **context)[0]["labs"] == ()  # not a lab for the bundled code lists
    labs = snapshot(resources, merged, **context)[0]["labs"]
    assert [(lab["concept"], lab["value"]) for lab in labs] == [("haemoglobin", 9.5)]
    assert snapshot(resources, TERMINOLOGY, **context)[0]["labs"] == ()


def test_lab_order_compares_instants_across_offsets() -> None:
    resources = ResourceSet.from_json(
        [
            patient(),
            hb("later", "2026-11-19T08:30:00+02:00", 11.0, "g/dL"),  # 06:30 UTC
            hb("earlier", "2026-11-19T07:00:00+01:00", 12.0, "g/dL"),  # 06:00 UTC
            hb("undated", ADMITTED, 13.0, "g/dL", effectiveDateTime=None),
        ]
    )
    labs = build_snapshot(
        resources, patient_id=PID, encounter_id=None, now=NOW, terminology=TERMINOLOGY, patient_key="k"
    ).labs
    assert [lab.value for lab in labs or ()] == [12.0, 11.0, 13.0]
    assert labs is not None and labs[0].effective == datetime(2026, 11, 19, 7, 0, tzinfo=CET)


def test_snapshot_codings_are_shared_per_triple_and_bounded() -> None:
    first = snapshot_coding("http://loinc.org", "718-7", "Hb")
    assert snapshot_coding("http://loinc.org", "718-7", "Hb") is first
    other = snapshot_coding("http://loinc.org", "718-7", None)
    assert other is not first and other.display is None and other.code == first.code
    assert snapshot_coding.cache_info().maxsize is not None


def _other_patients(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same resources plus another patient's (same types, so the kinds mix both patients)."""
    other = [
        {**patient(), "id": "ola", "birthDate": "1950-01-01"},
        {**encounter("ola-stay"), "subject": {"reference": "Patient/ola"}},
        {**condition("c-ola", SNOMED, "2776000", recorded=ADMITTED), "subject": {"reference": "Patient/ola"}},
        {**hb("hb-ola", ADMITTED + timedelta(hours=5), 9.0, "g/dL"), "subject": {"reference": "Patient/ola"}},
    ]
    return [*resources, *other]


def test_shared_resources_of_two_patients_give_each_patient_their_own_facts() -> None:
    mixed = _other_patients(RESOURCES)

    def built(resources: ResourceSet, patient_id: str, encounter_id: str) -> tuple[Any, ...]:
        issues: list[Any] = []
        snap = build_snapshot(
            resources, patient_id=patient_id, encounter_id=encounter_id, now=NOW, terminology=TERMINOLOGY,
            patient_key="k", issues=issues,
        )
        return snap.model_dump(), [(i.resource_type, i.id, i.message) for i in issues]

    expected = {pid: built(fresh(mixed), pid, eid) for pid, eid in ((PID, EID), ("ola", "ola-stay"))}
    shared = ResourceSet.from_json(mixed)
    for _ in range(2):
        for pid, eid in ((PID, EID), ("ola", "ola-stay")):
            assert built(shared, pid, eid) == expected[pid]
    assert [c["codings"][0]["code"] for c in expected["ola"][0]["conditions"]] == ["2776000"]
    assert [lab["value"] for lab in expected["ola"][0]["labs"]] == [9.0]


def test_a_clock_moving_through_the_stay_gives_first_build_facts_at_every_step() -> None:
    """More clocks than the kept fact lists: each step's labs and conditions are those of a first build."""
    steps = [ADMITTED - timedelta(days=2) + timedelta(hours=7 * i) for i in range(40)]
    shared = fresh(RESOURCES)
    warm = [snapshot(shared, encounter_id=EID, now=now) for now in steps]
    cold = [snapshot(fresh(RESOURCES), encounter_id=EID, now=now) for now in steps]
    assert warm == cold
    in_stay = [sum(lab["in_current_encounter"] for lab in s[0]["labs"]) for s in cold]
    assert len(set(in_stay)) > 1  # the steps do move results into the stay


def test_the_timeline_places_resources_in_the_current_contact_as_the_context_does() -> None:
    encounters = ["Encounter/" + EID, "Encounter/earlier", None, "urn:uuid:1"]
    moments = [None, ADMITTED - timedelta(days=1), ADMITTED, ADMITTED + timedelta(hours=3), NOW, NOW + timedelta(1)]
    placed = [(ref, moment) for ref in encounters for moment in moments]
    placed += [(None, ADMITTED.astimezone(ZoneInfo("Asia/Tokyo")))]  # the same instant in another zone
    timeline = Timeline.of(placed)
    resources = ResourceSet.from_json([patient(), encounter(), encounter("earlier", start=EARLIER)])
    for encounter_id, now in ((EID, NOW), (EID, ADMITTED + timedelta(hours=1)), ("earlier", NOW), (None, NOW)):
        ctx = BuildContext(
            resources=resources, patient_id=PID, encounter_id=encounter_id, now=now, terminology=TERMINOLOGY
        )
        key = ctx.contact_key(timeline)
        for position, (ref, moment) in enumerate(placed):
            expected = ctx.is_current_encounter(ref) or ctx.within_current_encounter(moment and in_utc(moment))
            assert timeline.in_contact(key, position) is expected, (encounter_id, now, ref, moment)
