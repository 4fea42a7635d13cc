"""Synthetic Norwegian-shaped patient cohorts written as FHIR R4 bulk NDJSON.

`generate_cohort` draws a population from the calibration in
``data/cohort.yaml`` (every parameter with its source) and writes one NDJSON
file per resource type plus an ``export.json`` manifest, as a FHIR Bulk Data
``$export`` would. The codings are those of ``data/fhir_codings.yaml``, which
mirrors ``docs/fhir-conventions.md`` and is checked against the real value
sets by the tests.

Reproducible: patient ``i`` is drawn from its own generator seeded with
``f"{seed}:{i}"``, so the same seed gives byte-identical files and a cohort of
100 is the first 100 patients of a cohort of 10,000 with the same seed.

The population model, per patient:

1. sex, age band (skewed to the elderly), municipality, GP;
2. frailty from the age band's prevalence, then a CFS level; living alone,
   nursing-home residence and municipal services rise with frailty;
3. chronic conditions, Poisson with a mean rising with age and frailty;
4. admissions over the window (at least one hospital contact), acute or
   elective, lognormal length of stay, a discharge destination by the
   patient's situation, a ready-for-discharge date (UKP) for those waiting for
   municipal services, short-term municipal stays, and acute readmissions
   8 h - 30 days after discharge with a probability raised by frailty, living
   alone and prior services;
5. admission duties: CFS documented for a share of contacts with patients
   70+, GP notified for a share of admissions 70+, CGA referral for a share of
   the screened-positive.

Synthetic identities only: fødselsnummer with the +80 month marker
(`cds.quality.fnr`), no names.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson

from cds.quality.calibration import Calibration, load_calibration
from cds.quality.fnr import synthetic_fnr

__all__ = ["CohortSummary", "generate_cohort", "patient_resources"]

OSLO = ZoneInfo("Europe/Oslo")


@dataclass
class CohortSummary:
    """What was written: counts per resource type and realised calibration figures."""

    patients: int
    seed: int
    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class _Stats:
    over80: int = 0
    over80_frail: int = 0
    over65_home: int = 0
    over65_home_frail: int = 0
    age67: int = 0
    contacts70: int = 0
    contacts70_cfs: int = 0
    admissions: int = 0


# -- small helpers ------------------------------------------------------------------------


def _weighted(rng: random.Random, weights: Mapping[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ts(moment: datetime) -> str:
    return moment.astimezone(OSLO).isoformat(timespec="seconds")


def _ref(resource_type: str, rid: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{rid}"}


def _band(bands: Sequence[Mapping[str, Any]], age: int, key: str) -> float:
    for band in bands:
        if band["min"] <= age <= band["max"]:
            return float(band[key])
    return float(bands[-1][key]) if age > bands[-1]["max"] else float(bands[0][key])


# -- one patient ------------------------------------------------------------------------------


@dataclass
class _Stay:
    encounter_id: str
    start: datetime
    end: datetime
    emergency: bool
    destination: str
    ready: datetime | None
    reason: Mapping[str, str]
    expected: bool = False


class _PatientDraw:
    """Draws one patient and renders its resources; all randomness from one generator."""

    def __init__(self, cal: Calibration, rng: random.Random, index: int, cfs_share: float, stats: _Stats) -> None:
        self.cal, self.rng, self.index, self.cfs_share, self.stats = cal, rng, index, cfs_share, stats
        self.c = cal.codings
        self.resources: list[dict[str, Any]] = []

    # -- demography --------------------------------------------------------------------
    def draw(self) -> list[dict[str, Any]]:
        cal, rng = self.cal, self.rng
        self.pid = _uuid(rng)
        band = rng.choices(cal.age_bands, weights=[b["weight"] for b in cal.age_bands], k=1)[0]
        self.age = rng.randint(band["min"], band["max"])  # at the window's end
        self.female = rng.random() < cal.raw["female_share"]["value"]
        muni = rng.choices(cal.municipalities, weights=[m["weight"] for m in cal.municipalities], k=1)[0]
        self.municipality = muni["code"]
        days_back = rng.randint(0, 364)
        self.birth = date(cal.window_end.year - self.age - 1, cal.window_end.month, 1) + timedelta(days=days_back)
        while (cal.window_end - self.birth).days // 365.25 < self.age:
            self.birth -= timedelta(days=30)
        # frailty
        self.frail = rng.random() < _band(cal.raw["frailty_by_age"]["bands"], self.age, "share")
        levels = cal.raw["cfs_levels"]["frail" if self.frail else "not_frail"]
        self.cfs = int(_weighted(rng, levels))
        if self.age >= 80:
            self.stats.over80 += 1
            self.stats.over80_frail += self.frail
        if self.age >= 67:
            self.stats.age67 += 1
        # living situation and services
        alone = cal.raw["lives_alone"]
        self.lives_alone = rng.random() < (alone["share_67_plus"] if self.age >= 67 else alone["share_under_67"])
        self.nursing_home = self.cfs >= 7 and rng.random() < cal.raw["nursing_home_resident"]["share_cfs_7_plus"]
        svc = cal.raw["municipal_services_before"]
        p_services = svc["share_frail"] if self.frail else (
            svc["share_not_frail_67_plus"] if self.age >= 67 else svc["share_under_67"]
        )
        self.services: list[str] = []
        if self.nursing_home:
            self.services = ["long-term-stay"]
        elif rng.random() < p_services:
            self.services = [_weighted(rng, svc["service_weights"])]
        if self.age >= 65 and not self.nursing_home:
            self.stats.over65_home += 1
            self.stats.over65_home_frail += self.frail
        self.gp = (
            f"gp-{self.municipality}-{rng.randint(1, 12):02d}"
            if rng.random() < cal.raw["has_gp_share"]["value"]
            else None
        )
        self._patient()
        self._living()
        self._services_before()
        self._conditions()
        self._medications()
        for stay in self._stays():
            self._encounter(stay)
        for _ in range(_poisson(rng, cal.raw["admissions"]["ed_only_visit_mean"])):
            self._ed_visit()
        return self.resources

    def _age_at(self, moment: datetime) -> int:
        d = moment.date()
        return d.year - self.birth.year - ((d.month, d.day) < (self.birth.month, self.birth.day))

    def _patient(self) -> None:
        c = self.c["patient"]
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.pid,
            "identifier": [{"system": c["fnr_system"], "value": synthetic_fnr(self.birth, self.index * 7)}],
            "gender": "female" if self.female else "male",
            "birthDate": self.birth.isoformat(),
            "address": [
                {
                    "use": "home",
                    "district": self.municipality,
                    "extension": [
                        {
                            "url": c["municipality_extension"],
                            "valueCoding": {"system": c["municipality_system"], "code": self.municipality},
                        }
                    ],
                    "country": "NO",
                }
            ],
        }
        if self.gp:
            resource["generalPractitioner"] = [_ref("Practitioner", self.gp)]
        self.resources.append(resource)

    def _answer_observation(self, section: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        self.resources.append(
            {
                "resourceType": "Observation",
                "id": _uuid(self.rng),
                "status": "final",
                "category": [{"coding": [{"system": self.c["cfs"]["category_system"], "code": "social-history"}]}],
                "code": {"coding": [{"system": section["code"]["system"], "code": section["code"]["code"]}]},
                "subject": _ref("Patient", self.pid),
                "effectiveDateTime": _ts(self.cal.window_start_dt - timedelta(days=self.rng.randint(1, 60))),
                "valueCodeableConcept": {
                    "coding": [{"system": answer["system"], "code": answer["code"], "display": answer["display"]}]
                },
            }
        )

    def _living(self) -> None:
        living = self.c["living_situation"]
        self._answer_observation(living, living["alone" if self.lives_alone else "with_others"])
        residence = self.c["residence"]
        self._answer_observation(residence, residence["nursing_home" if self.nursing_home else "home"])

    def _services_before(self) -> None:
        c = self.c["municipal_service"]
        for service in self.services:
            self.resources.append(
                {
                    "resourceType": "EpisodeOfCare",
                    "id": _uuid(self.rng),
                    "status": "active",
                    "type": [{"coding": [{"system": c["system"], "code": service}]}],
                    "patient": _ref("Patient", self.pid),
                    "period": {"start": (self.cal.window_start - timedelta(days=self.rng.randint(30, 1500))).isoformat()},
                }
            )

    def _conditions(self) -> None:
        cc = self.cal.raw["chronic_conditions"]
        mean = cc["mean_under_67"] if self.age < 67 else cc["mean_67_79"] if self.age < 80 else cc["mean_80_plus"]
        mean += cc["frail_extra"] if self.frail else 0.0
        pool = list(cc["conditions"])
        self.condition_count = min(_poisson(self.rng, mean), len(pool))
        for _ in range(self.condition_count):
            pick = self.rng.choices(pool, weights=[p["weight"] for p in pool], k=1)[0]
            pool.remove(pick)
            self.resources.append(self._condition(pick, "problem-list-item", None, None))

    def _medications(self) -> None:
        med = self.cal.raw["medications"]
        mean = med["base_mean"] + med["per_condition"] * self.condition_count
        mean += med["mean_67_plus_extra"] if self.age >= 67 else 0.0
        pool = list(med["drugs"])
        for _ in range(min(_poisson(self.rng, mean), len(pool))):
            pick = self.rng.choices(pool, weights=[d["weight"] for d in pool], k=1)[0]
            pool.remove(pick)
            self.resources.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": _uuid(self.rng),
                    "status": "active",
                    "medicationCodeableConcept": {
                        "coding": [{"system": med["system"], "code": pick["code"], "display": pick["display"]}]
                    },
                    "subject": _ref("Patient", self.pid),
                    "effectivePeriod": {
                        "start": (self.cal.window_start - timedelta(days=self.rng.randint(30, 2000))).isoformat()
                    },
                }
            )

    def _condition(
        self, code: Mapping[str, Any], category: str, encounter_id: str | None, recorded: datetime | None
    ) -> dict[str, Any]:
        c = self.c["condition"]
        onset = recorded or (self.cal.window_start_dt - timedelta(days=self.rng.randint(100, 4000)))
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": _uuid(self.rng),
            "clinicalStatus": {"coding": [{"system": c["clinical_status_system"], "code": "active"}]},
            "category": [{"coding": [{"system": c["category_system"], "code": category}]}],
            "code": {"coding": [{"system": c["icd10_system"], "code": code["code"], "display": code["display"]}]},
            "subject": _ref("Patient", self.pid),
            "recordedDate": _ts(onset),
        }
        if encounter_id:
            resource["encounter"] = _ref("Encounter", encounter_id)
        return resource

    # -- hospital stays -----------------------------------------------------------------------
    def _stays(self) -> list[_Stay]:
        cal, rng = self.cal, self.rng
        adm = cal.raw["admissions"]
        mean = adm["mean_per_patient"] * (adm["frail_factor"] if self.frail else 1.0)
        count = max(1, _poisson(rng, mean))
        span = (cal.window_end_dt - cal.window_start_dt).total_seconds()
        starts = sorted(cal.window_start_dt + timedelta(seconds=rng.random() * span) for _ in range(count))
        stays: list[_Stay] = []
        last_end = cal.window_start_dt - timedelta(days=1)
        for start in starts:
            start = max(start, last_end + timedelta(days=1, hours=rng.randint(0, 23)))
            if start >= cal.window_end_dt - timedelta(days=2):
                break
            stay = self._stay(start, rng.random() < adm["emergency_share"], expected=False)
            stays.append(stay)
            last_end = stay.end
            if stay.destination == "deceased":
                break
            readmit = self._readmission_after(stay)
            while readmit is not None and len(stays) < count + 3:
                stays.append(readmit)
                last_end = readmit.end
                if readmit.destination == "deceased":
                    return stays
                readmit = self._readmission_after(readmit)
            if stays[-1].destination == "deceased":
                break
        return stays

    def _stay(self, start: datetime, emergency: bool, *, expected: bool) -> _Stay:
        cal, rng = self.cal, self.rng
        los_cfg = cal.raw["length_of_stay"]
        mu = los_cfg["lognormal_mu"] + (math.log(los_cfg["frail_factor"]) if self.frail else 0.0)
        los_days = max(0.2, rng.lognormvariate(mu, los_cfg["lognormal_sigma"]))
        dest_cfg = cal.raw["discharge_destination"]
        group = (
            "nursing_home_resident"
            if self.nursing_home
            else "frail" if self.frail else "not_frail_67_plus" if self.age >= 67 else "under_67"
        )
        destination = _weighted(rng, dest_cfg[group])
        end = start + timedelta(days=los_days)
        rfd = cal.raw["ready_for_discharge"]
        waits = destination in ("short-term-stay", "nursing-home") and not self.nursing_home
        new_services = (
            destination == "home"
            and (self.frail or self.age >= 67)
            and rng.random() < rfd["new_services_share_home"]
        )
        if new_services:
            destination = "home-with-new-services"
        ready: datetime | None = None
        if (waits or new_services) and destination in rfd["applies_to"]:
            years_in = max(0.0, (start - cal.kpi_start_dt).days / 365.25)
            zero_share = min(0.98, rfd["zero_day_share"] + rfd["improvement_per_year"] * years_in)
            extra = 0
            if rng.random() >= zero_share:
                extra = 1
                while rng.random() >= rfd["extra_days_geometric_p"]:
                    extra += 1
            # medically ready at the planned end; the stay lasts until the municipality takes over
            ready = end
            end = ready + timedelta(days=extra, hours=rng.randint(1, 5))
        reason = self._weighted_reason()
        return _Stay(_uuid(rng), start, end, emergency, destination, ready, reason, expected)

    def _weighted_reason(self) -> Mapping[str, str]:
        reasons = self.cal.raw["admission_reasons"]["reasons"]
        return self.rng.choices(reasons, weights=[r["weight"] for r in reasons], k=1)[0]

    def _readmission_after(self, stay: _Stay) -> _Stay | None:
        r = self.cal.raw["readmission"]
        if stay.destination in ("deceased", "other-hospital"):
            return None
        p = r["base_probability"]
        p *= r["relative_risk_frail"] if self.frail else 1.0
        p *= r["relative_risk_alone"] if self.lives_alone else 1.0
        p *= r["relative_risk_services"] if self.services else 1.0
        if self.rng.random() >= p:
            return None
        if self.rng.random() < r["early_return_share"]:
            delay = timedelta(hours=self.rng.uniform(1, 7.5))
        else:
            days = min(29.5, self.rng.expovariate(1 / r["days_exponential_mean"]))
            delay = max(timedelta(hours=9), timedelta(days=days))
        start = stay.end + delay
        if start >= self.cal.window_end_dt - timedelta(days=2):
            return None
        expected = self.rng.random() < r["expected_share"]
        readmit = self._stay(start, True, expected=expected)
        if expected:
            readmit.reason = self.cal.raw["admission_reasons"]["expected_readmission_reason"]
        return readmit

    def _encounter(self, stay: _Stay) -> None:
        c = self.c["encounter"]
        self.stats.admissions += 1
        destination = "home" if stay.destination == "home-with-new-services" else stay.destination
        resource: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": stay.encounter_id,
            "status": "finished",
            "class": {"system": c["class_system"], "code": c["inpatient"]},
            "priority": {
                "coding": [
                    {
                        "system": c["priority_system"],
                        "code": c["priority_emergency"] if stay.emergency else c["priority_elective"],
                    }
                ]
            },
            "subject": _ref("Patient", self.pid),
            "period": {"start": _ts(stay.start), "end": _ts(stay.end)},
            "reasonCode": [
                {
                    "coding": [
                        {
                            "system": self.c["condition"]["icd10_system"],
                            "code": stay.reason["code"],
                            "display": stay.reason["display"],
                        }
                    ]
                }
            ],
            "hospitalization": {
                "dischargeDisposition": {
                    "coding": [dict(c["discharge_disposition"][destination])]
                }
            },
        }
        extensions = []
        if stay.ready is not None:
            extensions.append({"url": c["ready_for_discharge_extension"], "valueDateTime": _ts(stay.ready)})
        if stay.expected:
            extensions.append({"url": c["expected_readmission_extension"], "valueBoolean": True})
        if extensions:
            resource["extension"] = extensions
        self.resources.append(resource)
        self.resources.append(self._condition(stay.reason, "encounter-diagnosis", stay.encounter_id, stay.start))
        self._duties(stay)
        self._after_discharge(stay)
        self._follow_up(stay)
        proc = self.cal.raw["procedures"]
        if stay.destination != "deceased" and self.rng.random() < proc["medication_reconciliation_share"]:
            code = proc["medication_reconciliation"]
            self.resources.append(
                {
                    "resourceType": "Procedure",
                    "id": _uuid(self.rng),
                    "status": "completed",
                    "code": {"coding": [dict(code)]},
                    "subject": _ref("Patient", self.pid),
                    "encounter": _ref("Encounter", stay.encounter_id),
                    "performedDateTime": _ts(stay.end - timedelta(hours=self.rng.randint(2, 20))),
                }
            )

    def _follow_up(self, stay: _Stay) -> None:
        cfg = self.cal.raw["follow_up"]
        if stay.destination in ("deceased", "other-hospital") or self.rng.random() >= cfg["booked_share"]:
            return
        start = stay.end + timedelta(days=self.rng.randint(cfg["days_min"], cfg["days_max"]))
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "id": _uuid(self.rng),
            "status": "booked" if start > self.cal.window_end_dt else "fulfilled",
            "start": _ts(start.replace(hour=9, minute=0, second=0)),
            "end": _ts(start.replace(hour=9, minute=20, second=0)),
            "created": _ts(stay.end - timedelta(hours=self.rng.randint(3, 30))),
            "participant": [{"actor": _ref("Patient", self.pid), "status": "accepted"}],
        }
        if self.gp and self.rng.random() < cfg["gp_share"]:
            appointment["specialty"] = [{"coding": [dict(cfg["gp_specialty"])]}]
            appointment["participant"].append({"actor": _ref("Practitioner", self.gp), "status": "accepted"})
        self.resources.append(appointment)

    def _duties(self, stay: _Stay) -> None:
        cal, rng = self.cal, self.rng
        age = self._age_at(stay.start)
        cfs_cfg = cal.raw["cfs_documented_share"]
        documented = False
        if age >= cfs_cfg["min_age"]:
            self.stats.contacts70 += 1
            if rng.random() < self.cfs_share:
                documented = True
                self.stats.contacts70_cfs += 1
                self._cfs(stay)
        gp_cfg = cal.raw["gp_notification"]
        if age >= gp_cfg["min_age"] and self.gp and rng.random() < gp_cfg["share"]:
            m = self.c["message"]
            self.resources.append(
                {
                    "resourceType": "Communication",
                    "id": _uuid(rng),
                    "status": "completed",
                    "category": [{"coding": [{"system": m["system"], "code": m["gp_admission_notice"]}]}],
                    "subject": _ref("Patient", self.pid),
                    "encounter": _ref("Encounter", stay.encounter_id),
                    "recipient": [_ref("Practitioner", self.gp)],
                    "sent": _ts(stay.start + timedelta(hours=rng.randint(1, 30))),
                }
            )
        cga = cal.raw["cga_referral"]
        if documented and self.cfs >= cga["min_cfs"] and self.cfs < 9 and rng.random() < cga["share_of_screened_positive"]:
            code = self.c["cga_referral"]
            self.resources.append(
                {
                    "resourceType": "ServiceRequest",
                    "id": _uuid(rng),
                    "status": "active",
                    "intent": "order",
                    "code": {"coding": [{"system": code["system"], "code": code["code"], "display": code["display"]}]},
                    "subject": _ref("Patient", self.pid),
                    "encounter": _ref("Encounter", stay.encounter_id),
                    "authoredOn": _ts(stay.start + timedelta(hours=rng.randint(4, 48))),
                }
            )

    def _cfs(self, stay: _Stay) -> None:
        c = self.c["cfs"]
        self.resources.append(
            {
                "resourceType": "Observation",
                "id": _uuid(self.rng),
                "status": "final",
                "category": [{"coding": [{"system": c["category_system"], "code": c["category"]}]}],
                "code": {"coding": [{"system": c["system"], "code": c["code"], "display": c["display"]}]},
                "subject": _ref("Patient", self.pid),
                "encounter": _ref("Encounter", stay.encounter_id),
                "effectiveDateTime": (stay.start - timedelta(days=14)).date().isoformat(),
                "issued": _ts(stay.start + timedelta(hours=self.rng.randint(2, 20))),
                "valueInteger": self.cfs,
            }
        )

    def _after_discharge(self, stay: _Stay) -> None:
        cal, rng = self.cal, self.rng
        svc = self.c["municipal_service"]
        if stay.destination == "short-term-stay":
            st = cal.raw["short_term_stay"]
            sigma = st["lognormal_sigma"]
            days = rng.lognormvariate(math.log(st["mean_days"]) - sigma * sigma / 2, sigma)
            end = stay.end + timedelta(days=max(1.0, days))
            period: dict[str, str] = {"start": _ts(stay.end)}
            status = "active"
            if end < cal.window_end_dt:
                period["end"] = _ts(end)
                status = "finished"
            self.resources.append(
                {
                    "resourceType": "EpisodeOfCare",
                    "id": _uuid(rng),
                    "status": status,
                    "type": [{"coding": [{"system": svc["system"], "code": "short-term-stay"}]}],
                    "patient": _ref("Patient", self.pid),
                    "period": period,
                }
            )
        if stay.destination in ("home-with-new-services", "short-term-stay", "nursing-home") and not self.nursing_home:
            service = (
                _weighted(rng, cal.raw["municipal_services_before"]["after_discharge_weights"])
                if stay.destination == "home-with-new-services"
                else stay.destination.replace("nursing-home", "long-term-stay")
            )
            self.resources.append(
                {
                    "resourceType": "ServiceRequest",
                    "id": _uuid(rng),
                    "status": "completed",
                    "intent": "plan",
                    "code": {"coding": [{"system": svc["system"], "code": service}]},
                    "subject": _ref("Patient", self.pid),
                    "encounter": _ref("Encounter", stay.encounter_id),
                    "authoredOn": _ts(stay.start + (stay.end - stay.start) / 2),
                }
            )

    def _ed_visit(self) -> None:
        cal, rng = self.cal, self.rng
        c = self.c["encounter"]
        span = (cal.window_end_dt - cal.window_start_dt).total_seconds()
        start = cal.window_start_dt + timedelta(seconds=rng.random() * span * 0.99)
        eid = _uuid(rng)
        self.resources.append(
            {
                "resourceType": "Encounter",
                "id": eid,
                "status": "finished",
                "class": {"system": c["class_system"], "code": c["emergency"]},
                "priority": {"coding": [{"system": c["priority_system"], "code": c["priority_emergency"]}]},
                "subject": _ref("Patient", self.pid),
                "period": {"start": _ts(start), "end": _ts(start + timedelta(hours=rng.uniform(2, 8)))},
                "hospitalization": {
                    "dischargeDisposition": {
                        "coding": [dict(c["discharge_disposition"]["home"])]
                    }
                },
            }
        )
        age = self._age_at(start)
        if age >= cal.raw["cfs_documented_share"]["min_age"]:
            self.stats.contacts70 += 1
            if rng.random() < self.cfs_share:
                self.stats.contacts70_cfs += 1
                self._cfs(_Stay(eid, start, start, True, "home", None, {}))


# -- public API ---------------------------------------------------------------------------------


def patient_resources(
    index: int, seed: int, calibration: Calibration | None = None, *, cfs_share: float | None = None
) -> list[dict[str, Any]]:
    """The resources of patient ``index`` of the cohort with ``seed`` (Patient first)."""
    cal = calibration or load_calibration()
    share = cal.raw["cfs_documented_share"]["value"] if cfs_share is None else cfs_share
    return _PatientDraw(cal, random.Random(f"{seed}:{index}"), index, share, _Stats()).draw()


def _practitioner(gp: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": gp,
        "active": True,
        "qualification": [{"code": {"text": "Fastlege (synthetic)"}}],
    }


def generate_cohort(
    patients: int,
    seed: int,
    out_dir: Path,
    *,
    calibration: Calibration | None = None,
    cfs_share: float | None = None,
    overwrite: bool = False,
) -> CohortSummary:
    """Write a cohort of ``patients`` as bulk NDJSON into ``out_dir`` (created).

    An ``out_dir`` that already holds ``*.ndjson`` files is refused unless
    ``overwrite`` (then every ``*.ndjson`` in it is replaced, so no stale type is left).
    """
    if patients < 1:
        raise ValueError("the cohort needs at least one patient")
    if cfs_share is not None and not 0.0 <= cfs_share <= 1.0:
        raise ValueError("the CFS documentation share must be between 0 and 1")
    cal = calibration or load_calibration()
    share = cal.raw["cfs_documented_share"]["value"] if cfs_share is None else cfs_share
    existing = sorted(out_dir.glob("*.ndjson")) if out_dir.is_dir() else []
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} already holds NDJSON files ({existing[0].name}, ...); use --force to replace them")
    for old in existing:
        old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    handles: dict[str, IO[bytes]] = {}
    counts: Counter[str] = Counter()
    stats = _Stats()
    gps: set[str] = set()
    try:
        for index in range(patients):
            draw = _PatientDraw(cal, random.Random(f"{seed}:{index}"), index, share, stats)
            for resource in draw.draw():
                rtype = resource["resourceType"]
                handle = handles.get(rtype)
                if handle is None:
                    handle = handles[rtype] = (out_dir / f"{rtype}.ndjson").open("wb")
                handle.write(orjson.dumps(resource) + b"\n")
                counts[rtype] += 1
            if draw.gp:
                gps.add(draw.gp)
        handle = handles["Practitioner"] = (out_dir / "Practitioner.ndjson").open("wb")
        for gp in sorted(gps):
            handle.write(orjson.dumps(_practitioner(gp)) + b"\n")
            counts["Practitioner"] += 1
    finally:
        for handle in handles.values():
            handle.close()
    manifest = {
        "transactionTime": _ts(cal.window_end_dt),
        "request": f"cds cohort generate --patients {patients} --seed {seed}",
        "requiresAccessToken": False,
        "output": [{"type": t, "url": f"{t}.ndjson", "count": counts[t]} for t in sorted(counts)],
        "error": [],
        "extension": {"synthetic": True, "calibration_digest": cal.digest, "seed": seed, "cfs_share": share},
    }
    (out_dir / "export.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    figures = {
        "frail_share_80_plus": stats.over80_frail / stats.over80 if stats.over80 else 0.0,
        "frail_share_65_plus_home_dwelling": (
            stats.over65_home_frail / stats.over65_home if stats.over65_home else 0.0
        ),
        "share_aged_67_plus": stats.age67 / patients,
        "cfs_documented_share_70_plus_contacts": (
            stats.contacts70_cfs / stats.contacts70 if stats.contacts70 else 0.0
        ),
        "admissions_per_patient": stats.admissions / patients,
    }
    return CohortSummary(patients, seed, out_dir, dict(sorted(counts.items())), figures)
