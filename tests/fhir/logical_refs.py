"""Turn a persona's literal patient references into logical ones (by fødselsnummer), as VKP profiles send them."""

from __future__ import annotations

import copy
from typing import Any

from cds.fhir.identity import FNR_SYSTEM, PATIENT_ELEMENTS

__all__ = ["fnr_of", "logical_resource", "to_logical"]


def fnr_of(patient: dict[str, Any]) -> str:
    return next(i["value"] for i in patient["identifier"] if i["system"] == FNR_SYSTEM)


def _names_patient(reference: Any, patient_refs: set[str]) -> bool:
    return isinstance(reference, dict) and reference.get("reference") in patient_refs


def logical_resource(resource: dict[str, Any], patient_refs: set[str], fnr: str) -> dict[str, Any]:
    """A copy whose patient elements (and participant actors) name the patient by fødselsnummer only."""
    out = copy.deepcopy(resource)
    logical = {"identifier": {"system": FNR_SYSTEM, "value": fnr}, "type": "Patient"}
    for name in PATIENT_ELEMENTS:
        if _names_patient(out.get(name), patient_refs):
            out[name] = copy.deepcopy(logical)
    for participant in out.get("participant") or []:
        if isinstance(participant, dict) and _names_patient(participant.get("actor"), patient_refs):
            participant["actor"] = copy.deepcopy(logical)
    return out


def to_logical(value: Any, patient_id: str, fnr: str, full_url: str | None = None) -> Any:
    """A Bundle, a resource or a list of them with every reference to the patient made logical."""
    refs = {f"Patient/{patient_id}"} | ({full_url} if full_url else set())
    if isinstance(value, list):
        return [to_logical(item, patient_id, fnr, full_url) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("resourceType") == "Bundle":
        out = copy.deepcopy(value)
        for entry in out.get("entry") or []:
            entry["resource"] = to_logical(entry["resource"], patient_id, fnr, full_url)
        return out
    if value.get("resourceType") == "Patient":
        return copy.deepcopy(value)
    return logical_resource(value, refs, fnr)
