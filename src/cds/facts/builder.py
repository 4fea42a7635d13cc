"""FHIR R4 resources -> PatientSnapshot: composes the fact groups.

Each fact group is one module returning a dict of snapshot fields; a field it
leaves out stays None (unknown). See docs/fhir-conventions.md for how every
fact is read and when False / 0 / an empty list is concluded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, tzinfo
from typing import Any

from cds.clinicaltime import DEFAULT_ZONE, clinical_now
from cds.facts.clinical import condition_facts, procedure_facts
from cds.facts.context import BuildContext
from cds.facts.demography import demography_facts
from cds.facts.discharge import discharge_facts
from cds.facts.encounters import current_encounter_facts, history_facts
from cds.facts.frailty import frailty_facts
from cds.facts.labs import lab_facts
from cds.facts.medications import medication_facts
from cds.facts.referrals import cga_facts
from cds.facts.primary_diagnosis import primary_diagnosis_facts
from cds.facts.services import service_facts
from cds.facts.signals import signal_facts
from cds.facts.snapshot import PatientSnapshot
from cds.fhir.identity import NATIONAL_SYSTEMS
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
    cga_facts,
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
    clinical_zone: tzinfo = DEFAULT_ZONE,
    trusted_systems: Collection[str] = NATIONAL_SYSTEMS,
) -> PatientSnapshot:
    """Build the patient's snapshot at `now` (an aware datetime, any zone).

    ``clinical_zone``: the calendar of clinical time (`cds.clinicaltime`;
    the ``clinical_timezone`` setting, Europe/Oslo by default): ages,
    calendar-day counts and dates without a time (its midnights) are reckoned
    on that calendar whatever offset ``now`` came with. ``snapshot.now`` is the
    same instant at the zone's offset of that moment, as a fixed offset: its
    date is the clinical date, and ``now - 24 h`` is 24 elapsed hours also on
    the DST change days (arithmetic within one ZoneInfo is wall-clock time).

    ``searched``: the resource types whose search actually ran (from prefetch
    resolution or the FHIR client). A type searched with no results lets the
    builder conclude "none" (False / 0 / empty); without ``searched`` a type
    counts as searched when at least one resource of it is present.
    ``issues``: a list that receives data problems found while building
    (out-of-range CFS, unknown lab units, ...); never personal data.
    ``trusted_systems``: identifier systems by which a resource may name its
    patient besides the national person numbers (`cds.fhir.identity`).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = clinical_now(now, clinical_zone)
    ctx = BuildContext(
        resources=resources,
        patient_id=patient_id,
        encounter_id=encounter_id,
        now=now,
        terminology=terminology,
        searched=frozenset(searched) if searched is not None else None,
        zone=clinical_zone,
        trusted_systems=frozenset(trusted_systems),
    )
    fields: dict[str, Any] = {"now": now, "patient_key": patient_key}
    for group in FACT_GROUPS:
        fields.update(group(ctx))
    if fields.get("discharge_destination") == "deceased":  # discharge disposition 'exp': died in this stay
        fields["deceased"] = True
    if issues is not None:
        issues.extend(ctx.issues)
    return PatientSnapshot(**fields)
