"""Demography: age, sex, municipality, GP, deceased (from the Patient resource; the GP also from care teams).

The GP (fastlege) is found, in order, in ``Patient.generalPractitioner``, or as
a participant of one of the patient's live CareTeams whose role is in the value
set ``role.gp``, or whose member is a PractitionerRole coded ``role.gp`` (a
Fastlegeregister-style answer). None found: ``has_gp`` is unknown, never False.
"""

from __future__ import annotations

import re
from typing import Any

from cds.facts.context import BuildContext, as_date, reference_of
from cds.facts.conventions import NO_BASIS_MUNICIPALITY
from cds.facts.snapshot import Sex
from cds.fhir.resources import ResourceIssue

__all__ = ["demography_facts"]

_MUNICIPALITY_NUMBER = re.compile(r"^\d{4}$")


def demography_facts(ctx: BuildContext) -> dict[str, Any]:
    """age, sex, municipality, has_gp, gp_reference, deceased. All None without a Patient resource."""
    patient = ctx.patient
    if patient is None:
        ctx.issues.append(_missing_patient())
        return {}
    facts = {"age": _age(ctx, patient), **ctx.memo(patient, "demography", _fixed, patient)}
    if facts["has_gp"] is None:
        gp = _gp_of_care_teams(ctx)
        if gp is not None:
            facts |= {"has_gp": True, "gp_reference": gp}
    return facts


#: CareTeam statuses in which its members still hold their roles.
_CARE_TEAM_LIVE = frozenset({"proposed", "active", "suspended"})


def _gp_of_care_teams(ctx: BuildContext) -> str | None:
    """The reference of the GP named in one of the patient's live CareTeams (``role.gp``), or None."""
    for team in ctx.of_type("CareTeam"):
        if team.status is not None and team.status not in _CARE_TEAM_LIVE:
            continue
        for participant in team.participant or ():
            member = reference_of(participant.member)
            if member is None:
                continue
            if ctx.has(participant, "role.gp", "role"):
                return member
            role = ctx.resources.resolve(member)
            if getattr(role, "__resource_type__", None) == "PractitionerRole" and ctx.has(role, "role.gp", "code"):
                return member
    return None


def _fixed(patient: Any) -> dict[str, Any]:
    """The facts of a Patient that do not depend on the clock (memoised per Patient; read-only)."""
    return {
        "sex": Sex(patient.gender) if patient.gender in Sex.__members__.values() else None,
        "municipality": _municipality(patient),
        **_gp(patient),
        "deceased": _deceased(patient),
    }


def _missing_patient() -> ResourceIssue:
    return ResourceIssue("Patient", None, "the patient named in the call is not in the data")


def _age(ctx: BuildContext, patient: Any) -> int | None:
    birth = as_date(patient.birthDate)
    if birth is None:
        return None
    today = ctx.now.date()
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    if years < 0:
        ctx.issue(patient, "birthDate is after the evaluation time")
        return None
    return years


def _municipality(patient: Any) -> str | None:
    addresses = list(patient.address or ())
    # home addresses first, then the rest; addresses whose period has ended are skipped
    addresses.sort(key=lambda a: 0 if a.use == "home" else 1)
    for address in addresses:
        if address.period is not None and address.period.end is not None:
            continue
        for extension in [*(address.extension or ()), *(getattr(address.district__ext, "extension", None) or ())]:
            if extension.url == NO_BASIS_MUNICIPALITY and extension.valueCoding is not None:
                if extension.valueCoding.code:
                    return extension.valueCoding.code
        if address.district and _MUNICIPALITY_NUMBER.match(address.district):
            return address.district
    return None


def _gp(patient: Any) -> dict[str, Any]:
    refs = [reference_of(r) for r in patient.generalPractitioner or ()]
    refs = [r for r in refs if r]
    if not refs:
        return {"has_gp": None, "gp_reference": None}  # no GP in the record is 'unknown', not 'none'
    return {"has_gp": True, "gp_reference": refs[0]}


def _deceased(patient: Any) -> bool:
    if patient.deceasedBoolean is not None:
        return patient.deceasedBoolean
    # FHIR: a Patient without deceased[x] is not known to be deceased
    return patient.deceasedDateTime is not None
