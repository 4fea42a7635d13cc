"""Generate the persona bundles and CDS Hooks requests in fhir_examples/ (reproducible, never hand-edited).

Run from the repository root:

    python fhir_examples/build_examples.py

Writes fhir_examples/bundles/<key>-<slug>.json (FHIR R4 collection Bundles),
fhir_examples/requests/<key>-<slug>.<hook>.json (CDS Hooks requests with every
prefetch key) and fhir_examples/personas.json (index used by tests and docs).
All people are fictional; fødselsnumre are synthetic (month + 80).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fhirgen import CET, SNOMED, Persona, cc, local  # noqa: E402

HERE = Path(__file__).parent
D = timedelta(days=1)
H = timedelta(hours=1)


def at(y: int, m: int, d: int, hh: int = 8, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CET)


def signal(code: str, display: str) -> dict:
    return local("clinical-signal", code, display)


MED_LIST_A = [
    ("C03CA01", "Furosemid"),
    ("C07AB07", "Bisoprolol"),
    ("C09AA02", "Enalapril"),
    ("B01AF02", "Apixaban"),
    ("A10BA02", "Metformin"),
    ("R03BB04", "Tiotropium"),
    ("R03AK06", "Salmeterol og flutikason"),
    ("N02BE01", "Paracetamol"),
    ("A02BC02", "Pantoprazol"),
    ("C10AA05", "Atorvastatin"),
    ("A12AX", "Kalsium og vitamin D"),
    ("N05CF01", "Zopiklon"),
]


def persona_a() -> Persona:
    now = at(2026, 11, 20, 11, 0)
    p = Persona(
        key="a",
        slug="ingrid-haugen",
        name="Ingrid Haugen",
        age=84,
        now=now,
        hooks=["encounter-discharge", "patient-view"],
        story=(
            "84-year-old woman who lives alone in Bergen with heart failure, COPD, atrial fibrillation, "
            "type 2 diabetes and chronic kidney disease. Home nursing and a safety alarm before admission; "
            "CFS 6 (moderate frailty) scored on admission for her state two weeks before. Admitted acutely "
            "through the ED with worsening heart failure and a COPD exacerbation; three earlier emergency "
            "admissions in the last year. At discharge she needs more help: home nursing, practical help "
            "and everyday rehabilitation. No coordinator and no individual plan. Realistic size (~200 resources) "
            "for the benchmark."
        ),
        expect=(
            "Discharge pathway C (frail, several chronic conditions, increased need for municipal services); "
            "suggest CGA referral; ask the team to consider whether she is entitled to a coordinator (the card no "
            "longer states the legal duty as certain: pathway C alone does not show long-term coordinated needs, "
            "spesialisthelsetjenesteloven § 2-5a, 000:5310-5314); high readmission risk (LACE 15 high; HOSPITAL 6 "
            "intermediate: her only procedure, the medication reconciliation, is not a procedure the HOSPITAL score "
            "counts, so it no longer adds a point). GP notice, early notice and admission report are in place."
        ),
    )
    p.patient(
        given="Ingrid",
        family="Haugen",
        gender="female",
        birth=date(1942, 5, 3),
        individual=482,
        municipality=("4601", "Bergen"),
        street="Kalfarveien 31",
        postal=("5018", "Bergen"),
    )
    # earlier admissions (emergency, discharged home) and their labs
    history = [
        (at(2025, 6, 5, 9), at(2025, 6, 12, 12)),
        (at(2026, 1, 10, 15), at(2026, 1, 16, 11)),
        (at(2026, 4, 2, 17), at(2026, 4, 9, 12)),
        (at(2026, 8, 20, 10), at(2026, 8, 27, 13)),
    ]
    for start, end in history:
        p.encounter(start - 4 * H, start - 15 * timedelta(minutes=1), cls="EMER", priority="EM")
        eid = p.encounter(
            start, end, cls="IMP", priority="EM", disposition="home", reason=("I50.0", "Kongestiv hjertesvikt")
        )
        p.condition("I50.0", "Kongestiv hjertesvikt", start + 2 * H, encounter=eid, category="encounter-diagnosis")
        for day in range(5):
            when = start + day * D + 14 * H
            p.lab("hb", round(11.4 + 0.1 * day, 1), when, encounter=eid)
            p.lab("na", 134.0 + day, when, encounter=eid)
            p.lab("crea", 128.0 - 3 * day, when, encounter=eid)
            p.lab("crp", 48.0 - 10 * day, when, encounter=eid)
    # an ED visit without admission and outpatient controls
    ed = p.encounter(at(2026, 10, 5, 19), at(2026, 10, 5, 23, 30), cls="EMER", priority="EM")
    for kind, value in (("hb", 11.9), ("na", 136.0), ("crea", 119.0), ("crp", 12.0)):
        p.lab(kind, value, at(2026, 10, 5, 20), encounter=ed)
    for month in (2, 5, 9):
        opd = p.encounter(at(2026, month, 15, 10), at(2026, month, 15, 10, 40), cls="AMB", priority="R")
        for kind, value in (("hb", 12.1), ("na", 138.0), ("crea", 112.0), ("crp", 4.0)):
            p.lab(kind, value, at(2026, month, 15, 9, 30), encounter=opd)
    for month in (2, 5, 8, 11):
        p.lab("hba1c", 53.0 + month % 3, at(2026, month, 3, 9))
    # problem list
    for code, display, year in (
        ("I50.0", "Kongestiv hjertesvikt", 2019),
        ("J44.9", "Kronisk obstruktiv lungesykdom, uspesifisert", 2017),
        ("I48.9", "Atrieflimmer og atrieflutter, uspesifisert", 2020),
        ("N18.3", "Kronisk nyresykdom, stadium 3", 2022),
        ("E11.9", "Diabetes mellitus type 2 uten komplikasjoner", 2015),
        ("M81.0", "Postmenopausal osteoporose", 2021),
    ):
        p.condition(code, display, date(year, 3, 1))
    # the current stay: ED then the ward
    ed_now = p.encounter(at(2026, 11, 13, 14), at(2026, 11, 13, 18, 15), cls="EMER", priority="EM")
    p.encounter(
        at(2026, 11, 13, 18, 30),
        now,
        cls="IMP",
        priority="EM",
        current=True,
        disposition="home",
        reason=("I50.0", "Kongestiv hjertesvikt"),
        service=(SNOMED, "394802001", "General medicine"),
        extensions=[
            {
                "url": "https://fhir.cds-frailty.no/StructureDefinition/expected-discharge-date",
                "valueDate": "2026-11-19",
            },
            {
                "url": "https://fhir.cds-frailty.no/StructureDefinition/ready-for-discharge",
                "valueDateTime": "2026-11-19T14:00:00+01:00",
            },
        ],
    )
    for kind, value in (("hb", 11.2), ("na", 132.0), ("crea", 141.0), ("crp", 64.0)):
        p.lab(kind, value, at(2026, 11, 13, 14, 30), encounter=ed_now)
    p.condition(
        "I50.0", "Kongestiv hjertesvikt", at(2026, 11, 13, 19), encounter=p.encounter_id, category="encounter-diagnosis"
    )
    p.condition(
        "J44.1",
        "KOLS med akutt forverring",
        at(2026, 11, 13, 19),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    for day in range(1, 7):
        when = at(2026, 11, 13 + day, 7, 30)
        p.lab("hb", round(11.0 + 0.05 * day, 2), when, encounter=p.encounter_id)
        p.lab("na", 132.0 + day * 0.5, when, encounter=p.encounter_id)
        p.lab("crea", 140.0 - 4 * day, when, encounter=p.encounter_id)
        p.lab("crp", 60.0 - 9 * day, when, encounter=p.encounter_id)
    p.cfs(5, date(2025, 10, 1), at(2025, 10, 3, 12), source="municipality")
    p.cfs(6, date(2026, 10, 30), at(2026, 11, 14, 10), source="hospital")
    p.answer(
        "living-situation",
        ("https://fhir.cds-frailty.no/CodeSystem/living-situation", "lives-alone", "Bor alene"),
        at(2026, 11, 14, 10),
        encounter=p.encounter_id,
    )
    p.answer(
        "residence",
        ("https://fhir.cds-frailty.no/CodeSystem/residence", "own-home", "Eget hjem"),
        at(2026, 11, 14, 10),
        encounter=p.encounter_id,
    )
    p.answer(
        "expected-residence",
        ("https://fhir.cds-frailty.no/CodeSystem/residence", "own-home", "Eget hjem"),
        at(2026, 11, 19, 10),
        encounter=p.encounter_id,
    )
    for atc, name in MED_LIST_A:
        p.medication(atc, name, start=date(2025, 1, 15))
    p.medication("N05BA04", "Oksazepam", start=date(2024, 3, 1), status="stopped")
    p.medication("M01AE01", "Ibuprofen", start=date(2024, 5, 1), status="stopped")
    for atc, name in MED_LIST_A[:9]:
        p.medication_order(atc, name, at(2026, 11, 13, 20), encounter=p.encounter_id)
    p.medication_order("H02AB06", "Prednisolon", at(2026, 11, 13, 20), encounter=p.encounter_id)
    p.procedure(cc(SNOMED, "430193006", "Medication reconciliation"), at(2026, 11, 14, 11), encounter=p.encounter_id)
    p.procedure(cc(SNOMED, "182836005", "Review of medication"), at(2026, 3, 10, 12))
    p.episode("home-nursing", "Hjemmesykepleie", date(2024, 3, 1))
    p.episode("safety-alarm", "Trygghetsalarm", date(2023, 6, 1))
    for service, display in (
        ("home-nursing", "Hjemmesykepleie"),
        ("home-help", "Praktisk bistand"),
        ("everyday-rehabilitation", "Hverdagsrehabilitering"),
    ):
        p.service_request(service, display, at(2026, 11, 18, 13))
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 13, 20))
    p.message("admission-report", "Innleggelsesrapport", at(2026, 11, 14, 8), received=True)
    p.message("early-notice", "Tidligmelding", at(2026, 11, 14, 9))
    p.appointment(at(2026, 12, 10, 10), gp=False, description="Kontroll hjertepoliklinikken")
    return p


def persona_b() -> Persona:
    now = at(2026, 11, 18, 16)
    p = Persona(
        key="b",
        slug="arne-berg",
        name="Arne Berg",
        age=72,
        now=now,
        hooks=["encounter-start", "patient-view"],
        story=(
            "72-year-old man from Trondheim admitted acutely through the ED with pneumonia. Hypertension, "
            "otherwise managing well at home without municipal services. No CFS has ever been recorded and "
            "no admission notice has been sent to his GP yet."
        ),
        expect="CFS screening due (70+ without a recorded CFS); reminder to notify the GP of the admission.",
    )
    p.patient(
        given="Arne",
        family="Berg",
        gender="male",
        birth=date(1954, 2, 11),
        individual=335,
        municipality=("5001", "Trondheim"),
        street="Innherredsveien 12",
        postal=("7014", "Trondheim"),
    )
    p.condition("I10", "Essensiell hypertensjon", date(2016, 9, 1))
    p.encounter(at(2026, 11, 18, 10), at(2026, 11, 18, 13, 30), cls="EMER", priority="EM")
    p.encounter(
        at(2026, 11, 18, 13, 45),
        None,
        cls="IMP",
        priority="EM",
        current=True,
        reason=("J18.9", "Pneumoni, uspesifisert"),
    )
    p.condition(
        "J18.9",
        "Pneumoni, uspesifisert",
        at(2026, 11, 18, 14),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    for kind, value in (("hb", 13.9), ("na", 138.0), ("crp", 145.0), ("crea", 88.0)):
        p.lab(kind, value, at(2026, 11, 18, 10, 30), encounter=p.encounter_id)
    p.medication("C09AA02", "Enalapril", start=date(2016, 9, 1))
    p.medication("C10AA01", "Simvastatin", start=date(2018, 1, 10))
    return p


def persona_c() -> Persona:
    now = at(2026, 11, 19, 10)
    p = Persona(
        key="c",
        slug="solveig-dahl",
        name="Solveig Dahl",
        age=91,
        now=now,
        hooks=["patient-view", "encounter-discharge"],
        story=(
            "91-year-old woman from Stavanger with lung cancer and bone metastases, treated on the oncology "
            "ward for pain and hypercalcaemia. CFS 9 (terminally ill). Palliative care is recorded in this stay. "
            "Home nursing before and after."
        ),
        expect=(
            "End-of-life card: clarify treatment limits, palliative needs and shared decision-making. "
            "Never a CGA or rehabilitation suggestion."
        ),
    )
    p.patient(
        given="Solveig",
        family="Dahl",
        gender="female",
        birth=date(1935, 8, 22),
        individual=204,
        municipality=("1103", "Stavanger"),
        street="Pedersgata 40",
        postal=("4013", "Stavanger"),
    )
    p.condition("C34.1", "Ondartet svulst i overlapp, bronkie eller lunge", date(2026, 6, 2))
    p.condition("C79.5", "Sekundær ondartet svulst i knokler og benmarg", date(2026, 9, 14))
    p.encounter(
        at(2026, 11, 12, 11),
        now,
        cls="IMP",
        priority="EM",
        current=True,
        disposition="home",
        service=(SNOMED, "394593009", "Medical oncology"),
        reason=("C79.5", "Skjelettmetastaser"),
    )
    p.condition(
        "Z51.5", "Palliativ behandling", at(2026, 11, 12, 15), encounter=p.encounter_id, category="encounter-diagnosis"
    )
    p.cfs(9, date(2026, 10, 29), at(2026, 11, 12, 14))
    p.lab("hb", 10.1, at(2026, 11, 18, 7), encounter=p.encounter_id)
    p.lab("na", 131.0, at(2026, 11, 18, 7), encounter=p.encounter_id)
    p.medication("N02AA01", "Morfin", start=date(2026, 9, 20))
    p.medication("A06AD11", "Laktulose", start=date(2026, 9, 20))
    p.medication("H02AB02", "Deksametason", start=date(2026, 10, 1))
    p.episode("home-nursing", "Hjemmesykepleie", date(2026, 9, 25))
    p.service_request("home-nursing", "Hjemmesykepleie", at(2026, 11, 18, 12))
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 12, 13))
    p.procedure(cc(SNOMED, "430193006", "Medication reconciliation"), at(2026, 11, 13, 10), encounter=p.encounter_id)
    return p


def persona_d() -> Persona:
    now = at(2026, 11, 21, 12)
    p = Persona(
        key="d",
        slug="per-lunde",
        name="Per Lunde",
        age=86,
        now=now,
        hooks=["encounter-discharge", "patient-view"],
        story=(
            "86-year-old man from Tromsø who lives in a nursing home (long-term stay) with dementia and heart "
            "failure. CFS 8 (very severe frailty). Admitted with aspiration pneumonia; the ward records signs of "
            "approaching end of life. Returns to the nursing home."
        ),
        expect="End-of-life card (CFS 8 with signs of approaching end of life); no CGA or rehabilitation suggestion.",
    )
    p.patient(
        given="Per",
        family="Lunde",
        gender="male",
        birth=date(1940, 1, 30),
        individual=417,
        municipality=("5501", "Tromsø"),
        street="Storgata 95",
        postal=("9008", "Tromsø"),
    )
    p.condition("F03", "Uspesifisert demens", date(2021, 4, 12))
    p.condition("I50.9", "Hjertesvikt, uspesifisert", date(2019, 11, 3))
    p.encounter(
        at(2026, 11, 17, 22),
        now,
        cls="IMP",
        priority="EM",
        current=True,
        disposition="snf",
        reason=("J69.0", "Aspirasjonspneumoni"),
    )
    p.condition(
        "J69.0",
        "Pneumonitt som skyldes mat og oppkast",
        at(2026, 11, 18, 9),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    p.finding(signal("end-of-life", "Tegn på livets sluttfase"), at(2026, 11, 20, 10), encounter=p.encounter_id)
    p.cfs(8, date(2026, 11, 3), at(2026, 11, 18, 9), source="municipality")
    p.answer(
        "residence",
        ("https://fhir.cds-frailty.no/CodeSystem/residence", "nursing-home", "Sykehjem"),
        at(2026, 11, 18, 9),
        encounter=p.encounter_id,
    )
    p.episode("long-term-stay", "Langtidsopphold i sykehjem", date(2024, 2, 1))
    p.service_request("long-term-stay", "Langtidsopphold i sykehjem", at(2026, 11, 20, 11))
    p.lab("hb", 12.4, at(2026, 11, 20, 7), encounter=p.encounter_id)
    p.lab("na", 139.0, at(2026, 11, 20, 7), encounter=p.encounter_id)
    p.medication("C03CA01", "Furosemid", start=date(2020, 1, 1))
    p.medication("N06DA02", "Donepezil", start=date(2021, 5, 1))
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 18, 8))
    return p


def persona_e() -> Persona:
    now = at(2026, 11, 17, 14, 30)
    p = Persona(
        key="e",
        slug="marit-solberg",
        name="Marit Solberg",
        age=78,
        now=now,
        hooks=["encounter-start", "patient-view"],
        story=(
            "78-year-old woman from Oslo who lives in her own home with practical help once a week. Brought to "
            "the ED after two falls at home in the last days; the nurse's 4AT screen suggests delirium. "
            "CFS 5 (mild frailty) scored in the ED for her usual state. Expected to go home again."
        ),
        expect=(
            "Emergency-department selection to geriatrics: home-dwelling, expected to keep living at home, CFS < 7, "
            "new falls and suspected delirium."
        ),
    )
    p.patient(
        given="Marit",
        family="Solberg",
        gender="female",
        birth=date(1948, 4, 9),
        individual=128,
        municipality=("0301", "Oslo"),
        street="Thereses gate 20",
        postal=("0168", "Oslo"),
    )
    p.condition("I10", "Essensiell hypertensjon", date(2012, 5, 5))
    p.condition("M17.1", "Primær kneleddsartrose", date(2018, 2, 2))
    p.encounter(
        at(2026, 11, 17, 12, 40), None, cls="EMER", priority="EM", current=True, reason=("R29.6", "Gjentatte fall")
    )
    p.condition(
        "R29.6", "Tendens til fall", at(2026, 11, 17, 13), encounter=p.encounter_id, category="encounter-diagnosis"
    )
    p.finding(
        signal("suspected-delirium", "Mistenkt delirium (4AT positiv)"),
        at(2026, 11, 17, 13, 20),
        encounter=p.encounter_id,
    )
    p.cfs(5, date(2026, 11, 3), at(2026, 11, 17, 13, 30))
    p.answer(
        "residence",
        ("https://fhir.cds-frailty.no/CodeSystem/residence", "own-home", "Eget hjem"),
        at(2026, 11, 17, 13),
        encounter=p.encounter_id,
    )
    p.answer(
        "expected-residence",
        ("https://fhir.cds-frailty.no/CodeSystem/residence", "own-home", "Eget hjem"),
        at(2026, 11, 17, 13),
        encounter=p.encounter_id,
    )
    p.answer(
        "living-situation",
        ("https://fhir.cds-frailty.no/CodeSystem/living-situation", "lives-alone", "Bor alene"),
        at(2026, 11, 17, 13),
        encounter=p.encounter_id,
    )
    p.episode("home-help", "Praktisk bistand", date(2025, 4, 1))
    for kind, value in (("hb", 12.6), ("na", 133.0), ("crp", 18.0), ("crea", 79.0)):
        p.lab(kind, value, at(2026, 11, 17, 13), encounter=p.encounter_id)
    p.medication("C08CA01", "Amlodipin", start=date(2012, 5, 5))
    p.medication("N02BE01", "Paracetamol", start=date(2018, 2, 2))
    return p


def persona_f() -> Persona:
    now = at(2026, 11, 16, 13)
    p = Persona(
        key="f",
        slug="knut-eriksen",
        name="Knut Eriksen",
        age=75,
        now=now,
        hooks=["encounter-discharge"],
        story=(
            "75-year-old man from Kristiansand who lives with his wife and has had practical help at home for "
            "two years. Admitted for pneumonia, recovered to his usual level; the same practical help continues "
            "after discharge. CFS 4. GP appointment booked ten days after discharge."
        ),
        expect="Discharge pathway B (municipal services before, unchanged need); no coordinator or CGA card.",
    )
    p.patient(
        given="Knut",
        family="Eriksen",
        gender="male",
        birth=date(1951, 6, 15),
        individual=271,
        municipality=("4204", "Kristiansand"),
        street="Markens gate 8",
        postal=("4611", "Kristiansand"),
    )
    p.condition("I25.1", "Aterosklerotisk hjertesykdom", date(2017, 3, 3))
    p.encounter(
        at(2026, 11, 12, 9),
        now,
        cls="IMP",
        priority="EM",
        current=True,
        disposition="home",
        reason=("J18.9", "Pneumoni, uspesifisert"),
    )
    p.condition(
        "J18.9",
        "Pneumoni, uspesifisert",
        at(2026, 11, 12, 12),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    p.cfs(4, date(2026, 10, 28), at(2026, 11, 12, 15))
    p.answer(
        "living-situation",
        ("https://fhir.cds-frailty.no/CodeSystem/living-situation", "lives-with-others", "Bor sammen med andre"),
        at(2026, 11, 12, 15),
        encounter=p.encounter_id,
    )
    p.episode("home-help", "Praktisk bistand", date(2024, 10, 1))
    p.service_request("home-help", "Praktisk bistand", at(2026, 11, 15, 12))
    for kind, value in (("hb", 13.1), ("na", 139.0), ("crp", 22.0)):
        p.lab(kind, value, at(2026, 11, 15, 7), encounter=p.encounter_id)
    p.medication("B01AC06", "Acetylsalisylsyre", start=date(2017, 3, 3))
    p.medication("C10AA05", "Atorvastatin", start=date(2017, 3, 3))
    p.medication("C07AB02", "Metoprolol", start=date(2017, 3, 3))
    p.procedure(cc(SNOMED, "430193006", "Medication reconciliation"), at(2026, 11, 15, 14), encounter=p.encounter_id)
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 12, 11))
    p.message("early-notice", "Tidligmelding", at(2026, 11, 12, 16))
    p.appointment(at(2026, 11, 26, 9), gp=True, description="Kontroll hos fastlege etter utskrivning")
    return p


def persona_g() -> Persona:
    now = at(2026, 11, 20, 12)
    p = Persona(
        key="g",
        slug="bjorn-andersen",
        name="Bjørn Andersen",
        age=71,
        now=now,
        hooks=["encounter-discharge", "patient-view"],
        story=(
            "71-year-old fit man from Oslo (CFS 3, managing well) admitted electively for a total hip "
            "replacement. Lives with his wife, no municipal services before or after. Medication list "
            "reconciled; GP and orthopaedic follow-up booked."
        ),
        expect="Discharge pathway A (epicrisis only); no frailty, CGA or coordinator cards.",
    )
    p.patient(
        given="Bjørn",
        family="Andersen",
        gender="male",
        birth=date(1955, 3, 2),
        individual=455,
        municipality=("0301", "Oslo"),
        street="Bogstadveien 50",
        postal=("0366", "Oslo"),
    )
    p.condition("M16.1", "Annen primær koksartrose", date(2024, 8, 20))
    p.encounter(
        at(2026, 11, 17, 7),
        now,
        cls="IMP",
        priority="EL",
        current=True,
        disposition="home",
        reason=("M16.1", "Primær koksartrose"),
    )
    p.procedure(cc(SNOMED, "52734007", "Total hip replacement"), at(2026, 11, 17, 10), encounter=p.encounter_id)
    p.procedure(cc(SNOMED, "430193006", "Medication reconciliation"), at(2026, 11, 17, 15), encounter=p.encounter_id)
    p.cfs(3, date(2026, 11, 3), at(2026, 11, 17, 8))
    p.answer(
        "living-situation",
        ("https://fhir.cds-frailty.no/CodeSystem/living-situation", "lives-with-others", "Bor sammen med andre"),
        at(2026, 11, 17, 8),
        encounter=p.encounter_id,
    )
    p.answer(
        "residence",
        ("https://fhir.cds-frailty.no/CodeSystem/residence", "own-home", "Eget hjem"),
        at(2026, 11, 17, 8),
        encounter=p.encounter_id,
    )
    for kind, value in (("hb", 12.3), ("na", 140.0), ("crp", 35.0)):
        p.lab(kind, value, at(2026, 11, 19, 7), encounter=p.encounter_id)
    p.medication("C09CA01", "Losartan", start=date(2020, 1, 1))
    p.medication_order("B01AB05", "Enoksaparin", at(2026, 11, 17, 12), encounter=p.encounter_id)
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 17, 9))
    p.appointment(at(2026, 11, 30, 10), gp=True, description="Sårkontroll hos fastlege")
    p.appointment(at(2027, 1, 5, 9), gp=False, description="Kontroll ortopedisk poliklinikk")
    return p


def persona_h() -> Persona:
    now = at(2026, 11, 18, 9)
    p = Persona(
        key="h",
        slug="lise-pedersen",
        name="Lise Pedersen",
        age=60,
        now=now,
        hooks=["patient-view"],
        story=(
            "60-year-old woman from Bergen with multiple sclerosis, admitted for a urinary tract infection. "
            "The ward recorded CFS 5. She is under 65 and her disability is a stable single-system one, "
            "where the CFS is not validated."
        ),
        expect="Frailty status shown with the caveat that CFS is not validated under 65 / for stable single-system disability.",
    )
    p.patient(
        given="Lise",
        family="Pedersen",
        gender="female",
        birth=date(1966, 9, 12),
        individual=116,
        municipality=("4601", "Bergen"),
        street="Nygårdsgaten 5",
        postal=("5015", "Bergen"),
    )
    p.condition("G35", "Multippel sklerose", date(2004, 6, 1))
    p.encounter(
        at(2026, 11, 16, 15), None, cls="IMP", priority="EM", current=True, reason=("N39.0", "Urinveisinfeksjon")
    )
    p.condition(
        "N39.0",
        "Urinveisinfeksjon, uspesifisert lokalisasjon",
        at(2026, 11, 16, 17),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    p.cfs(5, date(2026, 11, 2), at(2026, 11, 17, 10))
    p.lab("hb", 12.9, at(2026, 11, 17, 7), encounter=p.encounter_id)
    p.medication("L04AA27", "Fingolimod", start=date(2015, 1, 1))
    return p


def persona_i() -> Persona:
    now = at(2026, 11, 19, 11)
    p = Persona(
        key="i",
        slug="gunnar-hansen",
        name="Gunnar Hansen",
        age=80,
        now=now,
        hooks=["encounter-discharge"],
        story=(
            "80-year-old man from Trondheim with COPD, heart failure, atrial fibrillation and type 2 diabetes, "
            "on nine regular medicines. Home nursing before and after the stay. He is about to be discharged: "
            "the medication list was never reconciled, his last medication review was 20 months ago, no "
            "follow-up appointment and no GP check-up are booked, and yesterday's haemoglobin of 10.8 g/dL "
            "has no order or task following it up."
        ),
        expect=(
            "Discharge safety warnings: reconcile the medication list; medication review due (>= 4 medicines, "
            "> 12 months); book follow-up; GP check-up within 2 weeks for a home-nursing patient; "
            "low Hb not followed up."
        ),
    )
    p.patient(
        given="Gunnar",
        family="Hansen",
        gender="male",
        birth=date(1946, 7, 7),
        individual=373,
        municipality=("5001", "Trondheim"),
        street="Kongens gate 2",
        postal=("7011", "Trondheim"),
    )
    for code, display, year in (
        ("J44.9", "Kronisk obstruktiv lungesykdom, uspesifisert", 2014),
        ("I50.9", "Hjertesvikt, uspesifisert", 2019),
        ("I48.9", "Atrieflimmer og atrieflutter, uspesifisert", 2019),
        ("E11.9", "Diabetes mellitus type 2 uten komplikasjoner", 2010),
    ):
        p.condition(code, display, date(year, 1, 10))
    p.encounter(
        at(2026, 11, 14, 16),
        now,
        cls="IMP",
        priority="EM",
        current=True,
        disposition="home",
        reason=("J44.1", "KOLS med akutt forverring"),
    )
    p.condition(
        "J44.1",
        "KOLS med akutt forverring",
        at(2026, 11, 14, 18),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    p.cfs(5, date(2026, 10, 31), at(2026, 11, 15, 10))
    p.lab("hb", 12.4, at(2026, 11, 14, 17), encounter=p.encounter_id)
    p.lab("hb", 10.8, at(2026, 11, 18, 7), encounter=p.encounter_id)
    p.lab("na", 136.0, at(2026, 11, 18, 7), encounter=p.encounter_id)
    for atc, name in (
        ("C03CA01", "Furosemid"),
        ("C07AB07", "Bisoprolol"),
        ("B01AF01", "Rivaroksaban"),
        ("A10BA02", "Metformin"),
        ("R03BB04", "Tiotropium"),
        ("R03AK06", "Salmeterol og flutikason"),
        ("A02BC01", "Omeprazol"),
        ("C10AA01", "Simvastatin"),
        ("N06AB04", "Citalopram"),
    ):
        p.medication(atc, name, start=date(2024, 6, 1))
    p.procedure(cc(SNOMED, "182836005", "Review of medication"), at(2025, 3, 10, 11))
    p.episode("home-nursing", "Hjemmesykepleie", date(2023, 11, 1))
    p.service_request("home-nursing", "Hjemmesykepleie", at(2026, 11, 18, 14))
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 14, 18))
    p.message("early-notice", "Tidligmelding", at(2026, 11, 15, 9))
    return p


def persona_j() -> Persona:
    now = at(2026, 11, 20, 10)
    p = Persona(
        key="j",
        slug="astrid-larsen",
        name="Astrid Larsen",
        age=79,
        now=now,
        hooks=["patient-view", "encounter-discharge"],
        story=(
            "79-year-old woman from Bodø with heart failure who lives at home with practical help. Her only "
            "CFS (4) is two years old. This is her fourth emergency admission this year: three times in the last "
            "12 months she was discharged home and came back."
        ),
        expect=(
            "CFS outdated: re-score; a higher readmission risk (her repeated admissions count in LACE and HOSPITAL; "
            "LACE counts her emergency admission of 1 September, which had no separate ED encounter, as "
            "emergency-department use: LACE 11); at discharge pathway B (the same practical help continues). "
            "Repeated admissions from home are no longer a pathway C criterion on their own (the source passage, "
            "000:2799-2805, describes a disagreement between hospital and municipality, not a criterion), so she no "
            "longer gets pathway C or a coordinator card. Changed with the CFS validity window (issue #12, "
            "docs/clinical-safety.md HAZ-02): the two-year-old CFS 4 is no longer shown as her current frailty "
            "status (no frailty-status card) and decides nothing; the screening card names it as history, with its "
            "date, and asks for a new score."
        ),
    )
    p.patient(
        given="Astrid",
        family="Larsen",
        gender="female",
        birth=date(1947, 10, 1),
        individual=262,
        municipality=("1804", "Bodø"),
        street="Sjøgata 17",
        postal=("8006", "Bodø"),
    )
    p.condition("I50.9", "Hjertesvikt, uspesifisert", date(2020, 5, 5))
    p.condition("E11.9", "Diabetes mellitus type 2 uten komplikasjoner", date(2016, 5, 5))
    p.cfs(4, date(2024, 10, 15), at(2024, 10, 16, 11), source="gp")
    for start, end in (
        (at(2026, 1, 5, 12), at(2026, 1, 12, 11)),
        (at(2026, 5, 10, 9), at(2026, 5, 15, 12)),
        (at(2026, 9, 1, 20), at(2026, 9, 6, 12)),
    ):
        eid = p.encounter(start, end, cls="IMP", priority="EM", disposition="home", reason=("I50.9", "Hjertesvikt"))
        p.lab("hb", 12.2, start + 2 * H, encounter=eid)
        p.lab("na", 137.0, start + 2 * H, encounter=eid)
    p.encounter(
        at(2026, 11, 16, 14),
        now,
        cls="IMP",
        priority="EM",
        current=True,
        disposition="home",
        reason=("I50.9", "Hjertesvikt"),
    )
    p.condition(
        "I50.9",
        "Hjertesvikt, uspesifisert",
        at(2026, 11, 16, 16),
        encounter=p.encounter_id,
        category="encounter-diagnosis",
    )
    p.lab("hb", 11.6, at(2026, 11, 19, 7), encounter=p.encounter_id)
    p.lab("na", 134.0, at(2026, 11, 19, 7), encounter=p.encounter_id)
    p.episode("home-help", "Praktisk bistand", date(2025, 8, 1))
    p.service_request("home-help", "Praktisk bistand", at(2026, 11, 19, 12))
    p.medication("C03CA01", "Furosemid", start=date(2020, 5, 5))
    p.medication("C09AA02", "Enalapril", start=date(2020, 5, 5))
    p.medication("A10BA02", "Metformin", start=date(2016, 5, 5))
    p.procedure(cc(SNOMED, "430193006", "Medication reconciliation"), at(2026, 11, 17, 10), encounter=p.encounter_id)
    p.message("gp-admission-notice", "Innleggelsesmelding til fastlege", at(2026, 11, 16, 16))
    p.appointment(at(2026, 11, 27, 11), gp=True, description="Kontroll hos fastlege")
    return p


PERSONAS = (
    persona_a,
    persona_b,
    persona_c,
    persona_d,
    persona_e,
    persona_f,
    persona_g,
    persona_h,
    persona_i,
    persona_j,
)


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def build(out: Path = HERE) -> list[dict]:
    """Write every bundle and request; return the persona index."""
    index = []
    for make in PERSONAS:
        persona = make()
        stem = f"{persona.key}-{persona.slug}"
        _write(out / "bundles" / f"{stem}.json", persona.bundle())
        requests = {}
        for hook in persona.hooks:
            name = f"{stem}.{hook}.json"
            _write(out / "requests" / name, persona.request(hook))
            requests[hook] = f"requests/{name}"
        index.append(
            {
                "key": persona.key,
                "name": persona.name,
                "age": persona.age,
                "now": persona.now.isoformat(),
                "patient_id": persona.patient_id,
                "encounter_id": persona.encounter_id,
                "bundle": f"bundles/{stem}.json",
                "requests": requests,
                "resources": len(persona.resources),
                "story": persona.story,
                "expect": persona.expect,
            }
        )
    _write(out / "personas.json", index)
    write_readme(index, out)
    return index


_README_HEAD = """# Persona bundles and CDS Hooks requests

Fictional patients for tests, demos and benchmarks. **Generated** by
`python fhir_examples/build_examples.py` (helpers in `fhirgen.py`), README included: edit the
generator, never the JSON. Rerunning it gives identical files.

- `bundles/<key>-<slug>.json`: FHIR R4 `collection` Bundles (parse with `fhir.resources.R4B`).
- `requests/<key>-<slug>.<hook>.json`: CDS Hooks requests with `hookInstance` (UUID v5, stable),
  `context` (`userId`, `patientId`, `encounterId`) and **every** prefetch key filled: `patient` and
  `encounter` as resources, the rest (`encounters`, `conditions`, `observations`, `procedures`,
  `medicationStatements`, `medicationRequests`, `episodesOfCare`, `serviceRequests`, `appointments`,
  `communications`, `careTeams`, `carePlans`, `documentReferences`, `flags`, `tasks`) as searchset
  Bundles, empty when the persona has none (so "none" can be concluded).
- `personas.json`: index (ids, evaluation time, files) used by the tests.

Norwegian conventions: Patient profile `no-basis-Patient`, synthetic fødselsnummer
(`urn:oid:2.16.578.1.12.4.1.4.1`, month + 80, valid mod-11 control digits), municipality number
in the `no-basis-municipalitycode` extension on `address.district`, ICD-10 with the Norwegian OID
`urn:oid:2.16.578.1.12.4.1.1.7110`, ATC `urn:oid:2.16.578.1.12.4.1.1.7180`, NLK/NPU lab codes,
CFS as the HL7 Norway `vkp-Observation-CFSscore` (SNOMED CT 763264000). Local conventions
(municipal services, messages, living situation) follow `docs/fhir-conventions.md`.

**Evaluation time.** Rules use the injected `now`, never the wall clock. Evaluate each request at
the persona's evaluation time below (e.g. `--now 2026-11-20T11:00:00+01:00`); all dates in the
bundle are consistent with it. At `encounter-discharge` the current encounter's `period.end` is
the discharge moment (= the evaluation time). Over HTTP, a development-mode service takes the
evaluation time from the `CDS-Dev-Now` header (`-H 'CDS-Dev-Now: 2026-11-20T11:00:00+01:00'`), so the
requests answer their cards on any date.

| Key | Persona | Age | Evaluate at | Hooks | Resources |
|---|---|---|---|---|---|
"""


def write_readme(index: list[dict], out: Path = HERE) -> None:
    lines = [_README_HEAD.rstrip("\n")]
    for r in index:
        lines.append(
            f"| {r['key']} | {r['name']} | {r['age']} | `{r['now']}` | {', '.join(r['requests'])} | {r['resources']} |"
        )
    lines.append("")
    for r in index:
        lines += [
            f"## ({r['key']}) {r['name']}, {r['age']}",
            "",
            r["story"],
            "",
            f"**The clinician should see:** {r['expect']}",
            "",
            f"Evaluate at `{r['now']}`. Patient `{r['patient_id']}`, encounter `{r['encounter_id']}`. "
            f"Bundle: `{r['bundle']}`.",
            "",
        ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    for row in build():
        print(f"{row['key']}: {row['name']:<16} {row['resources']:>4} resources  now={row['now']}")
