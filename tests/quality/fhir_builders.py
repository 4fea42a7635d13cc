"""Small builders for hand-written FHIR test patients, using the cohort generator's codings."""

from __future__ import annotations

from typing import Any

from cds.quality.calibration import load_codings

C = load_codings()


def ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


def patient(pid: str, birth: str, municipality: str, gender: str = "female") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": gender,
        "birthDate": birth,
        "address": [
            {
                "extension": [
                    {
                        "url": C["patient"]["municipality_extension"],
                        "valueCoding": {"system": C["patient"]["municipality_system"], "code": municipality},
                    }
                ]
            }
        ],
    }


def stay(
    pid: str,
    eid: str,
    start: str,
    end: str | None,
    destination: str | None,
    *,
    acute: bool = True,
    ready: str | None = None,
    reason: str | None = None,
    klass: str = "IMP",
) -> dict[str, Any]:
    e = C["encounter"]
    enc: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished" if end else "in-progress",
        "class": {"system": e["class_system"], "code": klass},
        "priority": {"coding": [{"system": e["priority_system"], "code": "EM" if acute else "EL"}]},
        "subject": ref("Patient", pid),
        "period": {"start": start, **({"end": end} if end else {})},
    }
    if destination:
        enc["hospitalization"] = {"dischargeDisposition": {"coding": [dict(e["discharge_disposition"][destination])]}}
    if ready:
        enc["extension"] = [{"url": e["ready_for_discharge_extension"], "valueDateTime": ready}]
    if reason:
        enc["reasonCode"] = [{"coding": [{"system": C["condition"]["icd10_system"], "code": reason}]}]
    return enc


def cfs(pid: str, oid: str, score: int, issued: str, eid: str | None = None) -> dict[str, Any]:
    c = C["cfs"]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": c["system"], "code": c["code"]}]},
        "subject": ref("Patient", pid),
        "issued": issued,
        "valueInteger": score,
    }
    if eid:
        obs["encounter"] = ref("Encounter", eid)
    return obs


def gp_notice(pid: str, cid: str, eid: str) -> dict[str, Any]:
    m = C["message"]
    return {
        "resourceType": "Communication",
        "id": cid,
        "status": "completed",
        "category": [{"coding": [{"system": m["system"], "code": m["gp_admission_notice"]}]}],
        "subject": ref("Patient", pid),
        "encounter": ref("Encounter", eid),
    }


def cga_referral(pid: str, sid: str, eid: str) -> dict[str, Any]:
    c = C["cga_referral"]
    return {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": c["system"], "code": c["code"]}]},
        "subject": ref("Patient", pid),
        "encounter": ref("Encounter", eid),
    }


def short_term_stay(pid: str, sid: str, start: str, end: str | None) -> dict[str, Any]:
    return {
        "resourceType": "EpisodeOfCare",
        "id": sid,
        "status": "finished" if end else "active",
        "type": [{"coding": [{"system": C["municipal_service"]["system"], "code": "short-term-stay"}]}],
        "patient": ref("Patient", pid),
        "period": {"start": start, **({"end": end} if end else {})},
    }
