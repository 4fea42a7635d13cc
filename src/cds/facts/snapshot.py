"""The fact catalogue: one typed snapshot of a patient at one point in time.

`PatientSnapshot` is the only thing the rule engine, the scores and the learned
model see of a patient. It is built from FHIR R4 resources by
`cds.facts.builder.build_snapshot` and is pure data: no FHIR objects, no I/O.

Conventions (read these before adding a fact):

* Every fact is named, typed and documented. The field's ``description`` says
  what it means; ``json_schema_extra`` carries its ``unit`` (when it has one)
  and the ``fhir`` paths it is read from. `cds.facts.catalogue` turns this into
  the generated catalogue (``docs/facts.md``) and the rule loader uses it to
  check fact names and types in rule files.
* ``None`` means *unknown*: the record does not hold the fact. It is never a
  silent ``False`` or ``0``. A fact that is known to be absent is ``False`` /
  ``0`` / an empty list only when the builder could actually see the data that
  would have shown it (documented per fact in ``docs/fhir-conventions.md``).
* Lists of dated events (``admissions``, ``ed_visits``, ...) keep their dates
  so rules can count them in time windows relative to ``now``.
* Codes stay as codings (system + code); value-set membership is decided by
  `cds.terminology.Terminology`, never by hard-coded code lists in Python.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


def fact(description: str, *, unit: str | None = None, fhir: list[str] | None = None, **kw: Any) -> Any:
    """Declare a catalogue fact: a pydantic field that defaults to unknown (None)."""
    extra: dict[str, Any] = {"fhir": fhir or []}
    if unit:
        extra["unit"] = unit
    default = kw.pop("default", None)
    default_factory = kw.pop("default_factory", None)
    if default_factory is not None:
        return Field(default_factory=default_factory, description=description, json_schema_extra=extra, **kw)
    return Field(default=default, description=description, json_schema_extra=extra, **kw)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Coding(_Frozen):
    """A code from a code system (FHIR Coding without version and display flags)."""

    system: str | None = None
    code: str
    display: str | None = None


class Sex(StrEnum):
    male = "male"
    female = "female"
    other = "other"
    unknown = "unknown"


class EncounterClass(StrEnum):
    """FHIR v3 ActCode encounter classes that matter here."""

    inpatient = "inpatient"  # IMP, ACUTE, NONAC
    emergency = "emergency"  # EMER
    ambulatory = "ambulatory"  # AMB
    short_stay = "short-stay"  # SS
    home_health = "home-health"  # HH
    virtual = "virtual"  # VR
    other = "other"


class ServiceNeed(StrEnum):
    """Need for municipal services after discharge compared with before admission."""

    none = "none"  # no municipal services before and none expected after
    unchanged = "unchanged"  # same services as before admission
    increased = "increased"  # had services, more or other services expected
    new = "new"  # had none, services expected after discharge
    decreased = "decreased"  # fewer services expected than before


class CfsFact(_Frozen):
    """A Clinical Frailty Scale score as documented in the record."""

    score: int = Field(ge=1, le=9, description="CFS level 1-9")
    baseline_date: date | None = Field(
        default=None, description="date of the baseline state the score describes (Observation.effective)"
    )
    recorded: datetime | None = Field(default=None, description="when the score was documented (Observation.issued)")
    performer_role: str | None = Field(
        default=None, description="who scored it, as a role or profession (never a personal identifier)"
    )
    source: str | None = Field(
        default=None, description="where the score came from: 'hospital', 'municipality', 'gp' or a local label"
    )


class EventFact(_Frozen):
    """A dated event in the patient's history (an admission, an ED visit, ...)."""

    start: datetime
    end: datetime | None = None
    emergency: bool | None = None
    encounter_id: str | None = None
    discharge_destination: str | None = None


class ConditionFact(_Frozen):
    """A diagnosis or problem, with every coding it carries."""

    codings: tuple[Coding, ...]
    recorded: date | None = None
    onset: date | None = None
    active: bool | None = None
    in_current_encounter: bool = False
    category: str | None = None  # 'encounter-diagnosis' | 'problem-list-item' | ...


class ProcedureFact(_Frozen):
    codings: tuple[Coding, ...]
    performed: date | None = None
    in_current_encounter: bool = False
    value_sets: tuple[str, ...] = Field(
        default=(), description="ids of the value sets the procedure's codes are in (e.g. score.hospital-procedure)"
    )


class LabFact(_Frozen):
    """A laboratory result, with its value normalised to the concept's canonical unit."""

    concept: str | None = Field(default=None, description="lab concept from the 'labs' terminology, e.g. 'haemoglobin'")
    codings: tuple[Coding, ...]
    value: float | None = Field(default=None, description="value in `unit` (the concept's canonical unit)")
    unit: str | None = None
    original_value: float | None = None
    original_unit: str | None = None
    text_value: str | None = None
    effective: datetime | None = None
    abnormal: bool | None = Field(default=None, description="flagged abnormal (interpretation or outside reference range)")
    followed_up: bool | None = Field(default=None, description="a later order or task refers to this result")
    in_current_encounter: bool = False


class MedicationFact(_Frozen):
    codings: tuple[Coding, ...]
    active: bool = True
    text: str | None = None


class ScoreItem(_Frozen):
    """One item of a published score: its points, the value it used, or why it is unknown."""

    name: str
    points: float | None = Field(default=None, description="points given; None when the item is unknown")
    value: Any = Field(default=None, description="the data value the item used (e.g. 11.2 g/dL)")
    used: tuple[str, ...] = Field(default=(), description="what data the item was computed from, in words")
    unknown: bool = False
    max_points: float | None = Field(default=None, description="the most this item could add if it were known")


class ScoreResult(_Frozen):
    """The result of one published score (LACE, HOSPITAL, HFRS, Charlson, ...)."""

    name: str
    points: float | None = Field(description="total of the known items")
    band: str | None = Field(default=None, description="risk band / class of `points`")
    items: tuple[ScoreItem, ...] = ()
    unknown_items: tuple[str, ...] = ()
    band_could_change: bool = Field(
        default=False, description="True when the unknown items could move the score into another band"
    )
    applicable: bool = Field(default=True, description="False when the score is outside its validated population")
    note: str | None = None


class RiskPrediction(_Frozen):
    """The learned readmission model's output for this patient."""

    probability: float = Field(ge=0.0, le=1.0)
    model_version: str
    contributions: tuple[tuple[str, float], ...] = Field(
        default=(),
        description="(feature, Shapley value on the log-odds scale against the reference patient), largest first;"
        " near-zero ones left out",
    )
    validated: bool = Field(default=False, description="a site accepted a local validation of the model")
    raising: tuple[str, ...] = Field(
        default=(), description="the features whose contribution raises the estimate, largest first (from contributions)"
    )

    @model_validator(mode="after")
    def _raising_from_contributions(self) -> RiskPrediction:
        object.__setattr__(self, "raising", tuple(name for name, weight in self.contributions if weight > 0))
        return self


class PatientSnapshot(_Frozen):
    """Everything the rules may know about one patient at `now`.

    Field groups: identity and demography, living situation and services,
    frailty, the current encounter, history, diagnoses/labs/medications,
    discharge preparation, signals, and the scores added after scoring.
    """

    # -- evaluation context -------------------------------------------------------
    now: datetime = fact("the moment of evaluation (injected clock)", fhir=["CDS Hooks request time or --now"])
    patient_key: str = fact(
        "keyed pseudonym of the patient (HMAC of the FHIR id); never the id or fødselsnummer itself",
        fhir=["Patient.id"],
    )

    # -- demography ---------------------------------------------------------------
    age: int | None = fact("age in whole years at `now`", unit="a", fhir=["Patient.birthDate"])
    sex: Sex | None = fact("administrative sex", fhir=["Patient.gender"])
    municipality: str | None = fact(
        "municipality number (kommunenummer) of the home address",
        fhir=[
            "Patient.address.extension(no-basis-municipalitycode).valueCoding.code",
            "Patient.address.district",
        ],
    )
    has_gp: bool | None = fact("the patient has a registered GP (fastlege)", fhir=["Patient.generalPractitioner"])
    gp_reference: str | None = fact(
        "FHIR reference to the GP (Practitioner/PractitionerRole/Organization), for notification suggestions",
        fhir=["Patient.generalPractitioner"],
    )
    deceased: bool | None = fact("the patient is recorded as deceased", fhir=["Patient.deceased[x]"])

    # -- living situation and municipal services --------------------------------
    lives_alone: bool | None = fact("lives alone", fhir=["Observation (living situation), see fhir-conventions"])
    home_dwelling: bool | None = fact(
        "lives in their own home (not in a nursing home or other institution)",
        fhir=["Observation (residence type)", "EpisodeOfCare (municipal long-term stay)"],
    )
    expected_to_live_at_home: bool | None = fact(
        "expected to keep living at home after this stay", fhir=["Observation (expected residence after discharge)"]
    )
    municipal_services_before: tuple[str, ...] | None = fact(
        "municipal services the patient had before admission (service codes from the 'municipal-services' value set)",
        fhir=["EpisodeOfCare.type (status active at admission)"],
    )
    municipal_services_after: tuple[str, ...] | None = fact(
        "municipal services expected or requested after discharge (service codes)",
        fhir=["ServiceRequest.code (municipal service, intent plan/order)"],
    )
    service_need: ServiceNeed | None = fact(
        "need for municipal services after discharge compared with before (derived from the two lists above)",
        fhir=["EpisodeOfCare", "ServiceRequest"],
    )
    home_nursing: bool | None = fact(
        "receives home nursing (hjemmesykepleie) before admission", fhir=["EpisodeOfCare.type"]
    )
    has_coordinator: bool | None = fact(
        "a coordinator (koordinator) is assigned", fhir=["CareTeam.participant.role (coordinator)"]
    )
    individual_plan: str | None = fact(
        "individual plan (IP) status: 'active', 'declined' or 'none'", fhir=["CarePlan (individual plan)"]
    )

    # -- frailty -------------------------------------------------------------------
    cfs: CfsFact | None = fact(
        "the most recent CFS score while it is current (within the validity window of the CFS table); "
        "unknown when there is none, or it is stale or undated",
        fhir=["Observation.code = SNOMED 763264000 (vkp-Observation-CFSscore)", "Observation.valueInteger"],
    )
    cfs_latest: CfsFact | None = fact(
        "the most recent CFS score whatever its age: history to show with its date, never a basis for a decision",
        fhir=["Observation.code = SNOMED 763264000 (vkp-Observation-CFSscore)", "Observation.valueInteger"],
    )
    cfs_age_days: int | None = fact(
        "days from the latest CFS's baseline date (or recording) to `now`", unit="d", fhir=["Observation.effective[x]"]
    )

    # -- current encounter ---------------------------------------------------------
    encounter_id: str | None = fact("id of the current encounter", fhir=["Encounter.id"])
    encounter_class: EncounterClass | None = fact("class of the current encounter", fhir=["Encounter.class"])
    encounter_start: datetime | None = fact("start of the current encounter", fhir=["Encounter.period.start"])
    encounter_end: datetime | None = fact("end of the current encounter", fhir=["Encounter.period.end"])
    length_of_stay_days: int | None = fact(
        "whole days from encounter start to its end (or to `now` while in progress)",
        unit="d",
        fhir=["Encounter.period"],
    )
    admission_emergent: bool | None = fact(
        "admitted as urgent/emergent (not elective)",
        fhir=["Encounter.priority", "Encounter.hospitalization.admitSource", "Encounter.class = EMER"],
    )
    oncology_discharge: bool | None = fact(
        "discharged from an oncology service", fhir=["Encounter.serviceType", "Encounter.serviceProvider"]
    )
    primary_diagnosis: str | None = fact(
        "ICD-10 code of the stay's primary diagnosis (Encounter.diagnosis rank 1)",
        fhir=["Encounter.diagnosis (rank 1) -> Condition.code"],
    )
    discharge_destination: str | None = fact(
        "planned or actual discharge destination ('home', 'nursing-home', 'short-term-stay', 'other-hospital', ...)",
        fhir=["Encounter.hospitalization.dischargeDisposition"],
    )
    ready_for_discharge: datetime | None = fact(
        "when the patient was declared ready for discharge (utskrivningsklar)",
        fhir=["Encounter.extension (ready-for-discharge), see fhir-conventions"],
    )
    tentative_discharge_date: date | None = fact(
        "tentative (expected) discharge date set during the stay",
        fhir=["Encounter.extension (expected discharge), see fhir-conventions"],
    )

    # -- history (dated events, counted in windows by the rules) ----------------
    admissions: tuple[EventFact, ...] | None = fact(
        "earlier inpatient admissions (not the current one)", fhir=["Encounter (class IMP, before the current one)"]
    )
    ed_visits: tuple[EventFact, ...] | None = fact(
        "earlier emergency department visits (not the current one)", fhir=["Encounter (class EMER)"]
    )
    outpatient_visits: tuple[EventFact, ...] | None = fact(
        "earlier outpatient visits", fhir=["Encounter (class AMB)"]
    )

    # -- diagnoses, procedures, labs, medications ------------------------------
    conditions: tuple[ConditionFact, ...] | None = fact("diagnoses and problems", fhir=["Condition"])
    procedures: tuple[ProcedureFact, ...] | None = fact("procedures", fhir=["Procedure"])
    labs: tuple[LabFact, ...] | None = fact("laboratory results", fhir=["Observation (category laboratory)"])
    medications: tuple[MedicationFact, ...] | None = fact(
        "medications on the current list", fhir=["MedicationStatement", "MedicationRequest"]
    )
    active_medication_count: int | None = fact(
        "number of distinct active medications", fhir=["MedicationStatement", "MedicationRequest"]
    )
    medication_reconciled: bool | None = fact(
        "the medication list was reconciled during this stay", fhir=["Procedure (medication reconciliation)"]
    )
    last_medication_review: date | None = fact(
        "date of the last structured medication review", fhir=["Procedure (medication review)"]
    )

    # -- admission duties and discharge preparation ----------------------------
    gp_notified: bool | None = fact(
        "the GP was notified of this admission", fhir=["Communication (admission notice to GP)"]
    )
    early_notice_sent: datetime | None = fact(
        "when the early notice (PLO tidligmelding) was sent", fhir=["Communication (early notice)"]
    )
    admission_report_received: bool | None = fact(
        "the municipality's admission report (innleggelsesrapport) was received",
        fhir=["Communication / DocumentReference (admission report)"],
    )
    follow_up_booked: bool | None = fact(
        "a follow-up appointment after discharge is booked", fhir=["Appointment (status booked, after `now`)"]
    )
    gp_follow_up_within_days: int | None = fact(
        "days from discharge to the first booked GP appointment", unit="d", fhir=["Appointment (GP)"]
    )

    # -- signals ------------------------------------------------------------------
    acute_functional_decline: bool | None = fact(
        "acute functional decline recorded in this contact", fhir=["Condition / Observation in value set"]
    )
    new_falls: bool | None = fact("new-onset falls recorded in this contact", fhir=["Condition / Observation"])
    suspected_delirium: bool | None = fact("suspected delirium in this contact", fhir=["Condition / Observation"])
    palliative_care: bool | None = fact(
        "palliative care or a documented end-of-life marker (value set signal.end-of-life): end of life at any CFS",
        fhir=["Condition / Observation / Flag / CarePlan in signal.end-of-life"],
    )
    end_of_life_signs: bool | None = fact(
        "signs of approaching end of life: palliative care, or an active condition in signal.end-of-life-sign "
        "(default: metastatic cancer); decides only together with CFS 8",
        fhir=["Condition / Observation / CarePlan"],
    )
    last_cga: date | None = fact(
        "day of the latest CGA done or referred: a Procedure or a ServiceRequest (draft, active, on-hold or "
        "completed) coded in clin.cga-procedure; unknown when none is found",
        fhir=["Procedure.code", "ServiceRequest.code"],
    )
    new_symptoms_before_discharge: bool | None = fact(
        "new symptoms or worsening recorded in the last 24 h before discharge", fhir=["Condition / Observation"]
    )

    # -- scores (added after scoring; see cds.scores) ---------------------------
    scores: dict[str, ScoreResult] = fact(
        "published scores by name: 'lace', 'hospital', 'hospital_simplified', 'hfrs', 'charlson'",
        default_factory=dict,
    )
    readmission_risk: RiskPrediction | None = fact("the learned model's 30-day readmission prediction")
