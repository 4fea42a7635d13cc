"""One patient's FHIR resources -> the few dated records the KPIs count.

The KPIs are about encounters across a whole cohort (readmissions link one stay
to the next), so this module reads the raw resources of one patient itself,
using the codings of ``data/fhir_codings.yaml`` (mirroring
``docs/fhir-conventions.md``) and value-set membership from
`cds.terminology.Terminology`. Definitions: ``docs/kpi-definitions.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cds.terminology import Terminology

__all__ = ["ContactRecord", "PatientRecords", "ShortStayRecord", "extract_records", "parse_instant"]

OSLO = ZoneInfo("Europe/Oslo")
_DAY = timedelta(hours=24)


def parse_instant(value: Any) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime in Europe/Oslo (dates at midnight), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=OSLO)
        if len(value) in (4, 7):
            return None  # year or year-month only: too coarse for a KPI
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=OSLO)
    return moment.astimezone(OSLO)


def _codings(concept: Any) -> list[dict[str, Any]]:
    if isinstance(concept, Mapping):
        coding = concept.get("coding")
        return [c for c in coding if isinstance(c, Mapping)] if isinstance(coding, list) else []
    return []


def _codings_of_list(concepts: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(concepts, list):
        for concept in concepts:
            out.extend(_codings(concept))
    return out


def _ref_id(ref: Any, resource_type: str) -> str | None:
    if isinstance(ref, Mapping):
        value = ref.get("reference")
        if isinstance(value, str) and f"{resource_type}/" in value:
            return value.rsplit(f"{resource_type}/", 1)[1].split("/", 1)[0] or None
    return None


@dataclass
class ContactRecord:
    """An inpatient stay or ED visit, with what the KPIs need to know about it."""

    encounter_id: str | None
    start: datetime
    end: datetime | None
    inpatient: bool
    acute: bool
    destination: str | None  # suffix of the discharge-destination.* value set ('home', 'deceased', ...) or None
    ready_for_discharge: datetime | None
    expected_readmission: bool
    cfs: int | None = None  # CFS documented in this contact (highest if several)
    gp_notified: bool = False
    cga_referred: bool = False


@dataclass
class ShortStayRecord:
    start: datetime
    end: datetime | None


@dataclass
class PatientRecords:
    patient_id: str
    birth_date: date | None
    municipality: str
    contacts: list[ContactRecord] = field(default_factory=list)
    short_stays: list[ShortStayRecord] = field(default_factory=list)

    def age_at(self, moment: datetime) -> int | None:
        if self.birth_date is None:
            return None
        d = moment.date()
        b = self.birth_date
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


class _Reading:
    """The codings of ``fhir_codings.yaml`` plus a membership cache."""

    def __init__(self, codings: Mapping[str, Any], terminology: Terminology) -> None:
        self.c = codings
        self.r = codings["reading"]
        self.t = terminology
        self._cache: dict[tuple[str, str | None, str | None], bool] = {}

    def first_match(self, prefix: str, codings: list[Mapping[str, Any]]) -> str | None:
        return self.t.first_match(prefix, codings)

    def member(self, value_set: str, codings: Iterable[Mapping[str, Any]]) -> bool:
        for coding in codings:
            key = (value_set, coding.get("system"), coding.get("code"))
            hit = self._cache.get(key)
            if hit is None:
                hit = self._cache[key] = self.t.contains(value_set, coding)
            if hit:
                return True
        return False


def _municipality(patient: Mapping[str, Any], codings: Mapping[str, Any]) -> str:
    url = codings["patient"]["municipality_extension"]
    addresses = patient.get("address")
    if isinstance(addresses, list):
        for address in addresses:
            if not isinstance(address, Mapping):
                continue
            district_element = address.get("_district")
            extensions = list(address.get("extension") or [])
            if isinstance(district_element, Mapping):
                extensions += list(district_element.get("extension") or [])
            for ext in extensions:
                if isinstance(ext, Mapping) and ext.get("url") == url:
                    code = (ext.get("valueCoding") or {}).get("code")
                    if isinstance(code, str) and code:
                        return code
            district = address.get("district")
            if isinstance(district, str) and district:
                return district
    return "unknown"


def _contact(enc: Mapping[str, Any], rd: _Reading) -> ContactRecord | None:
    r = rd.r
    klass = enc.get("class")
    code = klass.get("code") if isinstance(klass, Mapping) else None
    inpatient = code in r["inpatient_classes"]
    if not inpatient and code not in r["emergency_classes"]:
        return None
    period = enc.get("period") if isinstance(enc.get("period"), Mapping) else {}
    start = parse_instant(period.get("start"))
    if start is None:
        return None
    end = parse_instant(period.get("end")) if enc.get("status") not in ("in-progress", "arrived", "planned") else None
    priorities = {c.get("code") for c in _codings(enc.get("priority"))}
    acute = bool(priorities & set(r["acute_priorities"])) or code in r["emergency_classes"]
    hospitalization = enc.get("hospitalization") if isinstance(enc.get("hospitalization"), Mapping) else {}
    admit_sources = {c.get("code") for c in _codings(hospitalization.get("admitSource"))}
    acute = acute or bool(admit_sources & set(r["acute_admit_sources"]))
    destination: str | None = None
    disposition = _codings(hospitalization.get("dischargeDisposition"))
    if disposition:
        match = rd.first_match("discharge-destination.", disposition)
        destination = match.removeprefix("discharge-destination.") if match else "other"
    ready = None
    expected = False
    encounter_c = rd.c["encounter"]
    for ext in enc.get("extension") or []:
        if not isinstance(ext, Mapping):
            continue
        if ext.get("url") == encounter_c["ready_for_discharge_extension"]:
            ready = parse_instant(ext.get("valueDateTime"))
        elif ext.get("url") == encounter_c["expected_readmission_extension"] and ext.get("valueBoolean") is True:
            expected = True
    if not expected and rd.member(r["expected_readmission_valueset"], _codings_of_list(enc.get("reasonCode"))):
        expected = True
    eid = enc.get("id") if isinstance(enc.get("id"), str) else None
    return ContactRecord(eid, start, end, inpatient, acute, destination, ready, expected)


def extract_records(
    patient_id: str, resources: Iterable[Mapping[str, Any]], codings: Mapping[str, Any], terminology: Terminology
) -> PatientRecords:
    """Read one patient's resources into `PatientRecords` (unknown content is ignored)."""
    rd = _Reading(codings, terminology)
    r = rd.r
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for res in resources:
        if isinstance(res, Mapping):
            by_type.setdefault(str(res.get("resourceType")), []).append(res)
    patient = next(iter(by_type.get("Patient", [])), {})
    birth = None
    if isinstance(patient.get("birthDate"), str) and len(patient["birthDate"]) == 10:
        try:
            birth = date.fromisoformat(patient["birthDate"])
        except ValueError:
            birth = None
    records = PatientRecords(patient_id, birth, _municipality(patient, codings) if patient else "unknown")
    by_id: dict[str, ContactRecord] = {}
    for enc in by_type.get("Encounter", []):
        contact = _contact(enc, rd)
        if contact is not None:
            records.contacts.append(contact)
            if contact.encounter_id:
                by_id[contact.encounter_id] = contact
    records.contacts.sort(key=lambda c: c.start)
    # CFS observations
    for obs in by_type.get("Observation", []):
        if obs.get("status") in ("entered-in-error", "cancelled"):
            continue
        if not rd.member(r["cfs_valueset"], _codings(obs.get("code"))):
            continue
        score = obs.get("valueInteger")
        if not isinstance(score, int):
            qty = obs.get("valueQuantity")
            score = int(qty["value"]) if isinstance(qty, Mapping) and isinstance(qty.get("value"), (int, float)) else None
        if score is None or not 1 <= score <= 9:
            continue
        target = by_id.get(_ref_id(obs.get("encounter"), "Encounter") or "")
        if target is None:
            when = parse_instant(obs.get("issued")) or parse_instant(obs.get("effectiveDateTime"))
            if when is not None:
                target = next(
                    (c for c in records.contacts if c.start <= when <= (c.end or c.start) + _DAY), None
                )
        if target is not None:
            target.cfs = max(score, target.cfs or 0)
    for comm in by_type.get("Communication", []):
        codes = _codings_of_list(comm.get("category")) + _codings(comm.get("topic"))
        if rd.member(r["gp_notice_valueset"], codes):
            target = by_id.get(_ref_id(comm.get("encounter"), "Encounter") or "")
            if target is not None and comm.get("status") not in ("not-done", "entered-in-error"):
                target.gp_notified = True
    for req in by_type.get("ServiceRequest", []):
        if req.get("status") in ("revoked", "entered-in-error"):
            continue
        if rd.member(r["cga_referral_valueset"], _codings(req.get("code"))):
            target = by_id.get(_ref_id(req.get("encounter"), "Encounter") or "")
            if target is not None:
                target.cga_referred = True
    for episode in by_type.get("EpisodeOfCare", []):
        if rd.member(r["short_term_stay_valueset"], _codings_of_list(episode.get("type"))):
            period = episode.get("period") if isinstance(episode.get("period"), Mapping) else {}
            start = parse_instant(period.get("start"))
            if start is not None:
                end = parse_instant(period.get("end")) if episode.get("status") == "finished" else None
                records.short_stays.append(ShortStayRecord(start, end))
    return records
