"""build_snapshot never raises on messy but valid FHIR: persona (a) with elements randomly removed."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

from factkit import TERMINOLOGY
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.facts import build_snapshot
from cds.fhir.resources import ResourceIssue, ResourceSet

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
ROW = next(r for r in json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8")) if r["key"] == "a")
BUNDLE = json.loads((EXAMPLES / ROW["bundle"]).read_text(encoding="utf-8"))
OPTIONAL = [
    "period",
    "effectiveDateTime",
    "valueQuantity",
    "code",
    "category",
    "clinicalStatus",
    "encounter",
    "status",
    "subject",
    "hospitalization",
    "priority",
    "type",
    "extension",
    "birthDate",
    "address",
    "participant",
    "referenceRange",
    "interpretation",
    "medicationCodeableConcept",
    "authoredOn",
    "sent",
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(BUNDLE["entry"]) - 1), st.sampled_from(OPTIONAL)), max_size=40
    )
)
def test_removing_elements_never_breaks_the_build(removals: list[tuple[int, str]]) -> None:
    bundle = copy.deepcopy(BUNDLE)
    for index, key in removals:
        bundle["entry"][index]["resource"].pop(key, None)
    issues: list[ResourceIssue] = []
    snapshot = build_snapshot(
        ResourceSet.from_bundle(bundle),
        patient_id=ROW["patient_id"],
        encounter_id=ROW["encounter_id"],
        now=datetime.fromisoformat(ROW["now"]),
        terminology=TERMINOLOGY,
        patient_key="fuzz",
        issues=issues,
    )
    assert snapshot.patient_key == "fuzz"
