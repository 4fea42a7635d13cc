"""FHIR R4 resources -> PatientSnapshot: composes the fact groups.

Each fact group is one module returning a dict of snapshot fields; a field it
leaves out stays None (unknown). See docs/fhir-conventions.md for how every
fact is read and when False / 0 / an empty list is concluded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from cds.facts.clinical import condition_facts, procedure_facts
from cds.facts.context import BuildContext
from cds.facts.demography import demography_facts
from cds.facts.discharge import discharge_facts
from cds.facts.encounters import current_encounter_facts, history_facts
from cds.facts.frailty import frailty_facts
from cds.facts.labs import lab_facts
from cds.facts.medications import medication_facts
from cds.facts.primary_diagnosis import primary_diagnosis_facts
from cds.facts.services import service_facts
from cds.facts.signals import signal_facts
from cds.facts.snapshot import PatientSnapshot
from cds.fhir.resources import ResourceIssue, ResourceSet
from cds.terminology import Terminology

__all__ = ["FACT_GROUPS", "build_snapshot"]

#: The fact groups, in the order they are built.
FACT_GROUPS: tuple[Callable[[BuildContext], dict[str, Any]], ...] = (
    demography_facts,
    current_encounter_facts,
    history_facts,
    frailty_facts,
    condition_facts,
    primary_diagnosis_facts,
    procedure_facts,
    lab_facts,
    medication_facts,
    service_facts,
    discharge_facts,
    signal_facts,
)


def build_snapshot(
    resources: ResourceSet,
    *,
    patient_id: str,
    encounter_id: str | None,
    now: datetime,
    terminology: Terminology,
    patient_key: str,
    searched: Collection[str] | None = None,
    issues: list[ResourceIssue] | None = None,
) -> PatientSnapshot:
    """Build the patient's snapshot at `now` (an aware datetime).

    ``searched``: the resource types whose search actually ran (from prefetch
    resolution or the FHIR client). A type searched with no results lets the
    builder conclude "none" (False / 0 / empty); without ``searched`` a type
    counts as searched when at least one resource of it is present.
    ``issues``: a list that receives data problems found while building
    (out-of-range CFS, unknown lab units, ...); never personal data.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = BuildContext(
        resources=resources,
        patient_id=patient_id,
        encounter_id=encounter_id,
        now=now,
        terminology=terminology,
        searched=frozenset(searched) if searched is not None else None,
    )
    fields: dict[str, Any] = {"now": now, "patient_key": patient_key}
    for group in FACT_GROUPS:
        fields.update(group(ctx))
    if issues is not None:
        issues.extend(ctx.issues)
    return PatientSnapshot(**fields)
