"""FHIR extension URLs and local code systems the fact builder reads (see docs/fhir-conventions.md).

Standard (HL7 Norway no-basis) URLs come first; the local ones under
``https://fhir.cds-frailty.no`` exist only where no standard element or
extension was found. Code lists are not here: they are value sets in
``rules/valuesets/``.
"""

from __future__ import annotations

LOCAL_BASE = "https://fhir.cds-frailty.no"

#: HL7 Norway no-basis: municipality number on Address.district (or on the Address itself).
NO_BASIS_MUNICIPALITY = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"
#: Volven 3402: Norwegian municipality numbers (kommunenummer).
MUNICIPALITY_SYSTEM = "urn:oid:2.16.578.1.12.4.1.1.3402"

#: Encounter extension, valueDateTime: when the patient was declared ready for discharge (utskrivningsklar).
READY_FOR_DISCHARGE = f"{LOCAL_BASE}/StructureDefinition/ready-for-discharge"
#: Encounter extension, valueDate or valueDateTime: the tentative (expected) discharge date.
EXPECTED_DISCHARGE = f"{LOCAL_BASE}/StructureDefinition/expected-discharge-date"
#: The FHIR cross-version extension for R5 Encounter.plannedEndDate, accepted as well.
R5_PLANNED_END = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate"

#: Observation.meta.tag system saying where a CFS score came from (hospital, municipality, gp).
RECORD_SOURCE = f"{LOCAL_BASE}/CodeSystem/record-source"

#: v3 ActCode encounter classes -> EncounterClass values.
ENCOUNTER_CLASSES = {
    "IMP": "inpatient",
    "ACUTE": "inpatient",
    "NONAC": "inpatient",
    "EMER": "emergency",
    "AMB": "ambulatory",
    "SS": "short-stay",
    "HH": "home-health",
    "VR": "virtual",
}

#: v3 ActPriority codes that make an admission urgent/emergent, and those that make it elective.
EMERGENT_PRIORITIES = frozenset({"EM", "UR", "S", "A", "CS", "CR"})
ELECTIVE_PRIORITIES = frozenset({"R", "EL", "P", "PRN", "RR", "T"})
#: Encounter.hospitalization.admitSource codes (HL7 admit-source) that mean an emergency admission.
EMERGENCY_ADMIT_SOURCES = frozenset({"emd"})

#: v3 ObservationInterpretation codes meaning "abnormal", and "normal".
ABNORMAL_INTERPRETATIONS = frozenset({"A", "AA", "H", "HH", "HU", "L", "LL", "LU", "<", ">", "POS", "W"})
NORMAL_INTERPRETATIONS = frozenset({"N", "NEG"})
