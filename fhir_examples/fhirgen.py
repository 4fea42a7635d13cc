"""Small helpers that write FHIR R4 resources for the persona bundles (used by build_examples.py).

Everything is deterministic: ids, UUIDs and dates come from the persona
definition, so rerunning the generator gives byte-identical files.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

CET = timezone(timedelta(hours=1), "CET")
BASE_URL = "https://fhir.cds-frailty.no/fhir"
LOCAL = "https://fhir.cds-frailty.no"

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
ATC = "urn:oid:2.16.578.1.12.4.1.1.7180"
NLK = "urn:oid:2.16.578.1.12.4.1.1.7280"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
MUNICIPALITY = "urn:oid:2.16.578.1.12.4.1.1.3402"
NO_BASIS_PATIENT = "http://hl7.no/fhir/StructureDefinition/no-basis-Patient"
VKP_CFS = "http://hl7.no/fhir/vkpobservation/StructureDefinition/vkp-Observation-CFSscore"
UUID_NAMESPACE = uuid.UUID("6f1c2a4e-3f0b-5c7e-9a51-2d8e0c4b7a10")

LABS = {
    "hb": (LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", (11.7, 15.3)),
    "hb-npu": (NLK, "NPU02319", "B—Hemoglobin(Fe); subst.c.", "mmol/L", (7.3, 9.5)),
    "na": (LOINC, "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", (137.0, 145.0)),
    "na-npu": (NLK, "NPU03429", "P—Sodium ion; subst.c.", "mmol/L", (137.0, 145.0)),
    "crea": (LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "umol/L", (45.0, 90.0)),
    "crp": (LOINC, "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", (0.0, 5.0)),
    "hba1c": (NLK, "NPU27300", "Hb(B)—Haemoglobin A1c(IFCC); subst.fr.", "mmol/mol", (20.0, 42.0)),
}


def fodselsnummer(birth: date, individual: int) -> str:
    """A synthetic fødselsnummer: month + 80 (test-number convention) and valid mod-11 control digits."""
    while True:
        digits = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}{individual:03d}"
        d = [int(c) for c in digits]
        k1 = 11 - sum(w * x for w, x in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), d, strict=True)) % 11
        k1 = 0 if k1 == 11 else k1
        if k1 != 10:
            k2 = 11 - sum(w * x for w, x in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), [*d, k1], strict=True)) % 11
            k2 = 0 if k2 == 11 else k2
            if k2 != 10:
                return f"{digits}{k1}{k2}"
        individual += 2  # keep the sex digit's parity


def iso(moment: datetime | date) -> str:
    return moment.isoformat()


def cc(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    concept: dict[str, Any] = {"coding": [coding]}
    if text:
        concept["text"] = text
    return concept


def local(codesystem: str, code: str, display: str) -> dict[str, Any]:
    return cc(f"{LOCAL}/CodeSystem/{codesystem}", code, display)


@dataclass
class Persona:
    """One persona: its resources, evaluation time, hooks and story (for the README)."""

    key: str
    slug: str
    name: str
    age: int
    now: datetime
    hooks: list[str]
    story: str
    expect: str
    patient_id: str = ""
    encounter_id: str | None = None
    resources: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0

    # -- identity ----------------------------------------------------------------------
    def rid(self, kind: str) -> str:
        self.counter += 1
        return f"{self.key}-{kind}-{self.counter:03d}"

    def ref(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def enc_ref(self, encounter_id: str | None = None) -> dict[str, str]:
        return {"reference": f"Encounter/{encounter_id or self.encounter_id}"}

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources.append(resource)
        return resource

    def patient(
        self,
        *,
        given: str,
        family: str,
        gender: str,
        birth: date,
        individual: int,
        municipality: tuple[str, str],
        gp: str | None = "gp",
        street: str = "Storgata 1",
        postal: tuple[str, str] = ("5003", "Bergen"),
    ) -> None:
        self.patient_id = f"{self.key}-patient"
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.patient_id,
            "meta": {"profile": [NO_BASIS_PATIENT]},
            "identifier": [{"use": "official", "system": FNR, "value": fodselsnummer(birth, individual)}],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": gender,
            "birthDate": iso(birth),
            "address": [
                {
                    "use": "home",
                    "type": "physical",
                    "line": [street],
                    "postalCode": postal[0],
                    "city": postal[1],
                    "district": municipality[1],
                    "_district": {
                        "extension": [
                            {
                                "url": "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode",
                                "valueCoding": {
                                    "system": MUNICIPALITY,
                                    "code": municipality[0],
                                    "display": municipality[1],
                                },
                            }
                        ]
                    },
                    "country": "NO",
                }
            ],
        }
        if gp:
            gp_id = f"{self.key}-gp"
            patient["generalPractitioner"] = [{"reference": f"Practitioner/{gp_id}", "display": "Fastlege"}]
            self.add(
                {
                    "resourceType": "Practitioner",
                    "id": gp_id,
                    "identifier": [{"system": HPR, "value": str(9_100_000 + sum(map(ord, self.key)) * 97)}],
                    "name": [{"family": "Fastlege", "given": ["Allmenn"]}],
                }
            )
        self.resources.insert(0, patient)

    # -- encounters --------------------------------------------------------------------
    def encounter(
        self,
        start: datetime,
        end: datetime | None,
        *,
        cls: str = "IMP",
        priority: str | None = "EM",
        current: bool = False,
        disposition: str | None = None,
        service: tuple[str, str, str] | None = None,
        status: str | None = None,
        extensions: list[dict[str, Any]] | None = None,
        reason: tuple[str, str] | None = None,
    ) -> str:
        eid = f"{self.key}-encounter-current" if current else self.rid("encounter")
        encounter: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": eid,
            "status": status or ("in-progress" if current else "finished"),
            "class": {
                "system": ACT,
                "code": cls,
                "display": {"IMP": "inpatient encounter", "EMER": "emergency", "AMB": "ambulatory"}.get(cls, cls),
            },
            "subject": self.ref(),
            "period": {"start": iso(start), **({"end": iso(end)} if end else {})},
        }
        if priority:
            encounter["priority"] = cc(
                PRIORITY, priority, {"EM": "emergency", "R": "routine", "EL": "elective"}.get(priority)
            )
        if service:
            encounter["serviceType"] = cc(*service)
        if reason:
            encounter["reasonCode"] = [cc(ICD10, reason[0], reason[1])]
        if disposition:
            encounter["hospitalization"] = {
                "dischargeDisposition": cc("http://terminology.hl7.org/CodeSystem/discharge-disposition", disposition)
            }
        if extensions:
            encounter["extension"] = extensions
        if current:
            self.encounter_id = eid
        self.add(encounter)
        return eid

    # -- clinical ----------------------------------------------------------------------
    def condition(
        self,
        code: str,
        display: str,
        recorded: datetime | date,
        *,
        encounter: str | None = None,
        category: str = "problem-list-item",
        active: bool = True,
        system: str = ICD10,
    ) -> str:
        cid = self.rid("condition")
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "id": cid,
            "clinicalStatus": cc(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active" if active else "resolved"
            ),
            "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
            "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", category)],
            "code": cc(system, code, display),
            "subject": self.ref(),
            "recordedDate": iso(recorded),
        }
        if encounter:
            condition["encounter"] = self.enc_ref(encounter)
        self.add(condition)
        return cid

    def cfs(
        self, score: int, baseline: date, issued: datetime, *, source: str = "hospital", role: str | None = None
    ) -> str:
        oid = self.rid("cfs")
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "meta": {
                "profile": [VKP_CFS],
                "tag": [{"system": f"{LOCAL}/CodeSystem/record-source", "code": source}],
            },
            "status": "final",
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
            "code": cc(SNOMED, "763264000", "Canadian Study of Health and Aging Clinical Frailty Scale score"),
            "subject": self.ref(),
            "effectiveDateTime": iso(baseline),
            "issued": iso(issued),
            "valueInteger": score,
        }
        self.add(observation)
        return oid

    def lab(
        self,
        kind: str,
        value: float,
        when: datetime,
        *,
        encounter: str | None = None,
        interpretation: str | None = None,
    ) -> str:
        system, code, display, unit, (low, high) = LABS[kind]
        lid = self.rid("lab")
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": lid,
            "status": "final",
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
            "code": cc(system, code, display),
            "subject": self.ref(),
            "effectiveDateTime": iso(when),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
            "referenceRange": [
                {
                    "low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                    "high": {"value": high, "unit": unit, "system": UCUM, "code": unit},
                }
            ],
        }
        if interpretation is None:
            interpretation = "L" if value < low else "H" if value > high else "N"
        observation["interpretation"] = [
            cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", interpretation)
        ]
        if encounter:
            observation["encounter"] = self.enc_ref(encounter)
        self.add(observation)
        return lid

    def answer(
        self, question: str, answer: tuple[str, str, str], when: datetime, *, encounter: str | None = None
    ) -> str:
        """A local-convention Observation: code from the cds-frailty observation code system, coded answer."""
        oid = self.rid("obs")
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "social-history")],
            "code": local("observation", question, question.replace("-", " ")),
            "subject": self.ref(),
            "effectiveDateTime": iso(when),
            "valueCodeableConcept": cc(*answer),
        }
        if encounter:
            observation["encounter"] = self.enc_ref(encounter)
        self.add(observation)
        return oid

    def finding(
        self, code: dict[str, Any], when: datetime, *, encounter: str | None = None, present: bool = True
    ) -> str:
        """An Observation that records a finding as present (valueBoolean true) or absent (false)."""
        oid = self.rid("obs")
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "exam")],
            "code": code,
            "subject": self.ref(),
            "effectiveDateTime": iso(when),
            "valueBoolean": present,
        }
        if encounter:
            observation["encounter"] = self.enc_ref(encounter)
        self.add(observation)
        return oid

    def procedure(self, code: dict[str, Any], when: datetime, *, encounter: str | None = None) -> str:
        pid = self.rid("procedure")
        procedure: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": pid,
            "status": "completed",
            "code": code,
            "subject": self.ref(),
            "performedDateTime": iso(when),
        }
        if encounter:
            procedure["encounter"] = self.enc_ref(encounter)
        self.add(procedure)
        return pid

    def medication(self, atc: str, name: str, *, start: date, status: str = "active") -> str:
        mid = self.rid("medstatement")
        self.add(
            {
                "resourceType": "MedicationStatement",
                "id": mid,
                "status": status,
                "medicationCodeableConcept": cc(ATC, atc, name, text=name),
                "subject": self.ref(),
                "effectivePeriod": {"start": iso(start)},
                "dateAsserted": iso(start),
            }
        )
        return mid

    def medication_order(self, atc: str, name: str, authored: datetime, *, encounter: str | None = None) -> str:
        mid = self.rid("medrequest")
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": mid,
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": cc(ATC, atc, name, text=name),
            "subject": self.ref(),
            "authoredOn": iso(authored),
        }
        if encounter:
            request["encounter"] = self.enc_ref(encounter)
        self.add(request)
        return mid

    def episode(self, service: str, display: str, start: date, end: date | None = None) -> str:
        eid = self.rid("episode")
        self.add(
            {
                "resourceType": "EpisodeOfCare",
                "id": eid,
                "status": "active" if end is None else "finished",
                "type": [local("municipal-service", service, display)],
                "patient": self.ref(),
                "period": {"start": iso(start), **({"end": iso(end)} if end else {})},
            }
        )
        return eid

    def service_request(self, service: str, display: str, authored: datetime, *, intent: str = "plan") -> str:
        sid = self.rid("servicerequest")
        self.add(
            {
                "resourceType": "ServiceRequest",
                "id": sid,
                "status": "active",
                "intent": intent,
                "category": [local("service-category", "municipal-service", "Kommunal helse- og omsorgstjeneste")],
                "code": local("municipal-service", service, display),
                "subject": self.ref(),
                "encounter": self.enc_ref(),
                "authoredOn": iso(authored),
            }
        )
        return sid

    def appointment(self, start: datetime, *, gp: bool, description: str, status: str = "booked") -> str:
        aid = self.rid("appointment")
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "id": aid,
            "status": status,
            "description": description,
            "start": iso(start),
            "end": iso(start + timedelta(minutes=30)),
            "participant": [{"actor": self.ref(), "status": "accepted"}],
        }
        if gp:
            appointment["specialty"] = [cc(SNOMED, "394814009", "General practice")]
            appointment["participant"].append(
                {"actor": {"reference": f"Practitioner/{self.key}-gp"}, "status": "accepted"}
            )
        else:
            appointment["serviceType"] = [{"text": "Poliklinisk kontroll, sykehus"}]
        self.add(appointment)
        return aid

    def message(self, kind: str, display: str, sent: datetime, *, received: bool = False) -> str:
        cid = self.rid("communication")
        communication: dict[str, Any] = {
            "resourceType": "Communication",
            "id": cid,
            "status": "completed",
            "category": [local("care-message", kind, display)],
            "subject": self.ref(),
            "encounter": self.enc_ref(),
        }
        communication["received" if received else "sent"] = iso(sent)
        self.add(communication)
        return cid

    def care_team_coordinator(self, start: datetime) -> str:
        tid = self.rid("careteam")
        self.add(
            {
                "resourceType": "CareTeam",
                "id": tid,
                "status": "active",
                "subject": self.ref(),
                "period": {"start": iso(start)},
                "participant": [
                    {
                        "role": [local("care-team-role", "coordinator", "Koordinator")],
                        "member": {"display": "Koordinator, hjemmetjenesten"},
                    }
                ],
            }
        )
        return tid

    def care_plan(self, category: dict[str, Any], status: str, created: datetime, title: str) -> str:
        pid = self.rid("careplan")
        self.add(
            {
                "resourceType": "CarePlan",
                "id": pid,
                "status": status,
                "intent": "plan",
                "title": title,
                "category": [category],
                "subject": self.ref(),
                "created": iso(created),
            }
        )
        return pid

    def flag(self, code: dict[str, Any], start: datetime) -> str:
        fid = self.rid("flag")
        self.add(
            {
                "resourceType": "Flag",
                "id": fid,
                "status": "active",
                "code": code,
                "subject": self.ref(),
                "period": {"start": iso(start)},
                "encounter": self.enc_ref(),
            }
        )
        return fid

    # -- output ------------------------------------------------------------------------
    def bundle(self) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "id": f"persona-{self.key}",
            "meta": {"lastUpdated": iso(self.now)},
            "type": "collection",
            "timestamp": iso(self.now),
            "entry": [{"fullUrl": f"{BASE_URL}/{r['resourceType']}/{r['id']}", "resource": r} for r in self.resources],
        }

    def request(self, hook: str) -> dict[str, Any]:
        """A CDS Hooks request with every prefetch key filled from the bundle."""
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in self.resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
        prefetch: dict[str, Any] = {
            "patient": next(r for r in self.resources if r["resourceType"] == "Patient"),
        }
        if self.encounter_id:
            prefetch["encounter"] = next(r for r in by_type["Encounter"] if r["id"] == self.encounter_id)
        for key, resource_type in PREFETCH_KEYS.items():
            found = by_type.get(resource_type, [])
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "link": [{"relation": "self", "url": f"{BASE_URL}/{resource_type}?patient={self.patient_id}"}],
                "total": len(found),
                "entry": [
                    {"fullUrl": f"{BASE_URL}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                    for r in found
                ],
            }
        context: dict[str, Any] = {"userId": "Practitioner/cds-demo-clinician", "patientId": self.patient_id}
        if self.encounter_id:
            context["encounterId"] = self.encounter_id
        return {
            "hook": hook,
            "hookInstance": str(uuid.uuid5(UUID_NAMESPACE, f"{self.slug}/{hook}")),
            "context": context,
            "prefetch": prefetch,
        }


PREFETCH_KEYS = {
    "encounters": "Encounter",
    "conditions": "Condition",
    "observations": "Observation",
    "procedures": "Procedure",
    "medicationStatements": "MedicationStatement",
    "medicationRequests": "MedicationRequest",
    "episodesOfCare": "EpisodeOfCare",
    "serviceRequests": "ServiceRequest",
    "appointments": "Appointment",
    "communications": "Communication",
    "careTeams": "CareTeam",
    "carePlans": "CarePlan",
    "documentReferences": "DocumentReference",
    "flags": "Flag",
    "tasks": "Task",
}
