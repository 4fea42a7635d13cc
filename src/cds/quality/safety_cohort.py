"""Safety-case variants of generated cohort patients: the situations the clinical safety guards must handle.

`cds.quality.cohort` draws patients calibrated to Norwegian figures (KPI,
backtests); this module adds, on top of one drawn patient and from its own
seeded generator, the records a hazard needs to show up often enough to be
tested (docs/clinical-safety.md):

* ``deceased``: ``Patient.deceasedDateTime`` before the latest stay ended, or
  the latest stay's discharge disposition "expired" (HL7 ``exp``);
* ``stale_cfs``: every CFS moved to before the latest stay began by more than
  the validity window of the CFS table (``stale_cfs_9``: and scored 9, a CFS 9
  that outlived its half-year);
* ``cfs``: the latest CFS set to 8 or 9 (current);
* ``palliative``: palliative care (ICD-10 Z51.5) coded in the latest stay;
* ``metastatic``: active metastatic cancer (ICD-10 C78.0) from before the stay;
* ``cga_accepted``: the cga-referral card's own ServiceRequest (draft or
  active, undated, as the EHR stores an accepted suggestion), or a completed
  CGA referral dated in an earlier stay within the card's look-back;
* ``ed_contact``: a later emergency department contact (in progress) with
  new-onset falls and a CFS 3-6 scored in the ED, at any age (the geriatric
  selection guard); `SafetyCase.ed_contact` names it and its start.

The calibrated draw is untouched (a cohort written by `generate_cohort` is
byte-identical with or without this module); each variant is independent and
recorded in `SafetyCase.variants`, the generator's ground truth.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cds.quality.calibration import Calibration, load_calibration
from cds.quality.cohort import patient_resources
from cds.scores.cfs import cfs_max_age_days

__all__ = ["SAFETY_CFS_SHARE", "SAFETY_VARIANT_SHARES", "SafetyCase", "safety_case"]

#: Share of patients that get each variant (independent draws; illustrative test mix, not epidemiology).
SAFETY_VARIANT_SHARES: Mapping[str, float] = {
    "deceased": 0.12,
    "stale_cfs": 0.25,
    "cfs": 0.15,
    "palliative": 0.10,
    "metastatic": 0.10,
    "cga_accepted": 0.15,
    "ed_contact": 0.25,
}

SAFETY_CFS_SHARE = 0.8
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CGA_CODING = {
    "system": "https://fhir.cds-frailty.no/CodeSystem/clinical-procedure",
    "code": "cga",
    "display": "Helhetlig geriatrisk vurdering (CGA)",
}
EXPIRED = {"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "exp"}
ACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
CFS_CODE = "763264000"


@dataclass
class SafetyCase:
    """One generated patient with safety variants: its resources and which variants it got."""

    index: int
    resources: list[dict[str, Any]]
    variants: set[str] = field(default_factory=set)
    ed_contact: tuple[str, datetime] | None = None  # (Encounter id, start) of the ``ed_contact`` variant

    @property
    def patient_id(self) -> str:
        return str(self.resources[0]["id"])


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _latest_stay(resources: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    stays = [r for r in resources if r["resourceType"] == "Encounter" and r.get("class", {}).get("code") == "IMP"]
    return max(stays, key=lambda r: r["period"]["start"]) if stays else None


def _is_cfs(resource: Mapping[str, Any]) -> bool:
    codings = resource.get("code", {}).get("coding", [])
    return resource["resourceType"] == "Observation" and any(c.get("code") == CFS_CODE for c in codings)


def safety_case(
    index: int, seed: int, calibration: Calibration | None = None, *, cfs_share: float = SAFETY_CFS_SHARE
) -> SafetyCase:
    """Patient ``index`` of the cohort with ``seed``, with safety variants drawn from ``f"safety:{seed}:{index}"``.

    ``cfs_share``: share of contacts of patients 70+ with a CFS documented (higher than the calibrated
    share, so that the CFS variants have a score to change).
    """
    cal = calibration or load_calibration()
    resources = patient_resources(index, seed, cal, cfs_share=cfs_share)
    rng = random.Random(f"safety:{seed}:{index}")
    case = SafetyCase(index, resources)
    stay = _latest_stay(resources)
    if stay is None:
        return case
    start = _instant(stay["period"]["start"])
    pid, eid = case.patient_id, stay["id"]
    draws = {name: rng.random() < share for name, share in SAFETY_VARIANT_SHARES.items()}
    cfs = [r for r in resources if _is_cfs(r)]

    if draws["deceased"]:
        case.variants.add("deceased")
        if rng.random() < 0.5:
            resources[0]["deceasedDateTime"] = (start + timedelta(minutes=10)).isoformat()
        else:
            stay["hospitalization"] = {"dischargeDisposition": {"coding": [dict(EXPIRED)]}}
    if cfs and draws["cfs"]:
        level = rng.choice([8, 9])
        case.variants.add(f"cfs_{level}")
        for observation in cfs:
            observation["valueInteger"] = level
    if cfs and draws["stale_cfs"]:
        level = int(cfs[0]["valueInteger"])
        case.variants.add("stale_cfs_9" if level == 9 else "stale_cfs")
        for observation in cfs:  # every score older than the window before the latest stay began
            baseline = start - timedelta(days=cfs_max_age_days(level) + rng.randint(30, 700))
            observation.pop("encounter", None)
            observation["effectiveDateTime"] = baseline.date().isoformat()
            observation["issued"] = (baseline + timedelta(days=14)).isoformat()
    if draws["palliative"]:
        case.variants.add("palliative")
        resources.append(_condition(rng, pid, "Z51.5", "Palliative care", start + timedelta(hours=1), encounter=eid))
    if draws["metastatic"]:
        case.variants.add("metastatic")
        resources.append(
            _condition(rng, pid, "C78.0", "Secondary malignant neoplasm of lung", start - timedelta(days=rng.randint(30, 400)))
        )
    if draws["cga_accepted"]:
        case.variants.add("cga_accepted")
        resources.append(_cga_request(rng, pid, eid, start))
    died = "deceased" in case.variants or any(
        c.get("code") == EXPIRED["code"]
        for c in stay.get("hospitalization", {}).get("dischargeDisposition", {}).get("coding", [])
    )
    if draws["ed_contact"] and not died:  # no contact after death
        case.variants.add("ed_contact")
        # 20+ days after the stay, so the ED's CFS baseline (start - 14 d) is after every other evaluation moment
        ed_start = _instant(stay["period"]["end"]) + timedelta(days=rng.randint(20, 80), hours=rng.randint(0, 12))
        case.ed_contact = _ed_contact(rng, resources, pid, ed_start)
    return case


def _ed_contact(rng: random.Random, resources: list[dict[str, Any]], pid: str, start: datetime) -> tuple[str, datetime]:
    """An emergency department contact in progress, with new-onset falls and a CFS scored in the ED."""
    eid = f"safety-ed-{rng.getrandbits(64):016x}"
    resources.append(
        {
            "resourceType": "Encounter",
            "id": eid,
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": start.isoformat()},
        }
    )
    resources.append(_condition(rng, pid, "R29.6", "Repeated falls", start + timedelta(minutes=5), encounter=eid))
    resources.append(
        {
            "resourceType": "Observation",
            "id": f"safety-{rng.getrandbits(64):016x}",
            "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": CFS_CODE}]},
            "subject": {"reference": f"Patient/{pid}"},
            "encounter": {"reference": f"Encounter/{eid}"},
            "effectiveDateTime": (start - timedelta(days=14)).date().isoformat(),
            "issued": (start + timedelta(minutes=20)).isoformat(),
            "valueInteger": rng.randint(3, 6),
        }
    )
    return eid, start


def _condition(
    rng: random.Random, pid: str, code: str, display: str, recorded: datetime, *, encounter: str | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"safety-{rng.getrandbits(64):016x}",
        "clinicalStatus": ACTIVE,
        "code": {"coding": [{"system": ICD10, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": recorded.isoformat(),
    }
    if encounter is not None:
        resource["encounter"] = {"reference": f"Encounter/{encounter}"}
    return resource


def _cga_request(rng: random.Random, pid: str, eid: str, start: datetime) -> dict[str, Any]:
    """The card's own suggestion as accepted (draft/active, undated), or a completed referral in an earlier stay."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": f"safety-{rng.getrandbits(64):016x}",
        "intent": "proposal",
        "code": {"coding": [dict(CGA_CODING)], "text": "Helhetlig geriatrisk vurdering (CGA) og teamforløp"},
        "subject": {"reference": f"Patient/{pid}"},
    }
    kind = rng.choice(["draft", "active", "earlier"])
    if kind == "earlier":
        resource.update(status="completed", intent="order", authoredOn=(start - timedelta(days=rng.randint(20, 300))).isoformat())
    else:
        resource["status"] = kind
        if rng.random() < 0.5:
            resource["encounter"] = {"reference": f"Encounter/{eid}"}
    return resource
