"""The primary diagnosis of the current stay, from ``Encounter.diagnosis``.

FHIR R4 lists the stay's diagnoses in ``Encounter.diagnosis``, each a reference
to a Condition with a ``rank`` (1 = primary). The primary diagnosis is the
entry with the lowest rank; a single entry without a rank is the primary one.
Several entries and no rank: unknown (the builder does not guess which one the
hospital coded as hoveddiagnose). The fact is the ICD-10 code of the referenced
Condition (Norwegian OID or WHO URI: the terminology's ``icd-10`` family); a
primary diagnosis without an ICD-10 coding is unknown.
"""

from __future__ import annotations

from typing import Any

from cds.facts.context import BuildContext, codings_of

__all__ = ["primary_diagnosis_facts"]

_ICD10_FAMILY = "icd-10"


def primary_diagnosis_facts(ctx: BuildContext) -> dict[str, Any]:
    """``primary_diagnosis``: the ICD-10 code of the stay's rank-1 diagnosis, when the data tells it."""
    encounter = ctx.encounter if ctx.encounter_id is not None else None
    entries = list(getattr(encounter, "diagnosis", None) or ())
    if not entries:
        return {}
    ranked = [e for e in entries if getattr(e, "rank", None) is not None]
    if ranked:
        primary = min(ranked, key=lambda e: int(e.rank))
    elif len(entries) == 1:
        primary = entries[0]
    else:
        return {}
    condition = ctx.resources.resolve(primary.condition)
    if condition is None:
        return {}
    for coding in codings_of(getattr(condition, "code", None)):
        if ctx.terminology.system_family(coding.system) == _ICD10_FAMILY and coding.code:
            return {"primary_diagnosis": coding.code}
    return {}
