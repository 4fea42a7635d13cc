"""Facts behind the clinical safety guards (docs/clinical-safety.md): death, a current CFS, end of life, CGA done.

Each test builds the snapshot from FHIR resources, as the service does.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from factkit import (
    ADMITTED,
    LOCAL,
    NO_ICD10,
    NOW,
    SNOMED,
    build,
    concept,
    condition,
    encounter,
    observation,
    patient,
)

from cds.scores import cfs as cfs_table

CFS = concept(SNOMED, "763264000")
ACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
CGA_CODING = {"system": f"{LOCAL}/clinical-procedure", "code": "cga"}  # what the cga-referral card suggests
EXPIRED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "exp"}]}


def cfs_scored(days_ago: int, score: int = 6) -> dict:
    return observation("cfs", CFS, (NOW - timedelta(days=days_ago)).date().isoformat(), valueInteger=score)


def cga_request(status: str, **extra: object) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": f"sr-{status}",
        "status": status,
        "intent": "proposal",
        "code": {"coding": [CGA_CODING]},
        "subject": {"reference": "Patient/kari"},
        **extra,
    }


# -- death ---------------------------------------------------------------------------------------


def test_discharge_disposition_expired_marks_the_patient_deceased() -> None:
    died = encounter(hospitalization={"dischargeDisposition": EXPIRED}, end=NOW - timedelta(hours=2))
    assert build([patient(), died]).deceased is True
    assert build([patient(), encounter()]).deceased is False


def test_patient_deceased_datetime_marks_the_patient_deceased() -> None:
    assert build([patient(deceasedDateTime="2026-11-19T03:00:00+01:00"), encounter()]).deceased is True


# -- CFS validity window ---------------------------------------------------------------------------


def test_a_cfs_inside_the_window_is_current_and_one_day_older_is_history() -> None:
    window = cfs_table.cfs_max_age_days(6)
    inside = build([patient(), encounter(), cfs_scored(window)])
    assert inside.cfs is not None and inside.cfs.score == 6 and inside.cfs_age_days == window
    stale = build([patient(), encounter(), cfs_scored(window + 1)])
    assert stale.cfs is None  # unknown for every rule
    assert stale.cfs_latest is not None and stale.cfs_latest.score == 6 and stale.cfs_age_days == window + 1


def test_an_undated_cfs_is_never_current() -> None:
    undated = observation("cfs", CFS, None, valueInteger=5)
    snapshot = build([patient(), encounter(), undated])
    assert snapshot.cfs is None and snapshot.cfs_latest is not None and snapshot.cfs_age_days is None


def test_the_window_is_one_value_of_the_cfs_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(cfs_table._table())
    monkeypatch.setattr(cfs_table, "_table", lambda: {**table, "max_age_days": 30})
    assert build([patient(), encounter(), cfs_scored(31)]).cfs is None
    assert build([patient(), encounter(), cfs_scored(30)]).cfs is not None


def test_a_cfs_9_older_than_half_a_year_is_never_current_even_with_a_longer_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = dict(cfs_table._table())
    monkeypatch.setattr(cfs_table, "_table", lambda: {**table, "max_age_days": 730})
    assert cfs_table.cfs_max_age_days(9) == 183 and cfs_table.cfs_max_age_days(8) == 730
    assert build([patient(), encounter(), cfs_scored(184, score=9)]).cfs is None
    assert build([patient(), encounter(), cfs_scored(184, score=8)]).cfs is not None


# -- end of life -----------------------------------------------------------------------------------


def test_palliative_care_coded_in_this_stay_is_palliative_care_and_a_sign() -> None:
    z515 = condition("z", NO_ICD10, "Z51.5", recorded=ADMITTED + timedelta(hours=3), in_stay=True)
    snapshot = build([patient(), encounter(), z515])
    assert (snapshot.palliative_care, snapshot.end_of_life_signs) == (True, True)


def test_active_metastatic_cancer_is_a_sign_but_not_palliative_care() -> None:
    metastases = condition("m", NO_ICD10, "C78.7", recorded=ADMITTED - timedelta(days=200), clinicalStatus=ACTIVE)
    snapshot = build([patient(), encounter(), metastases])
    assert (snapshot.palliative_care, snapshot.end_of_life_signs) == (None, True)


def test_nothing_recorded_leaves_end_of_life_unknown() -> None:
    snapshot = build([patient(), encounter()])
    assert (snapshot.palliative_care, snapshot.end_of_life_signs) == (None, None)


# -- CGA done or referred ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "active", "on-hold", "completed"])
def test_the_cards_own_cga_referral_counts_as_referred_today(status: str) -> None:
    snapshot = build([patient(), encounter(), cga_request(status)])  # no date, no encounter: as the card creates it
    assert snapshot.last_cga == NOW.date()


@pytest.mark.parametrize("status", ["revoked", "entered-in-error"])
def test_a_withdrawn_cga_referral_does_not_count(status: str) -> None:
    assert build([patient(), encounter(), cga_request(status)]).last_cga is None


def test_a_cga_referral_in_an_earlier_stay_gives_its_day() -> None:
    earlier = cga_request("completed", authoredOn="2026-03-02T10:00:00+01:00", encounter={"reference": "Encounter/old"})
    old_stay = encounter("old", start=ADMITTED - timedelta(days=260), end=ADMITTED - timedelta(days=250))
    assert build([patient(), encounter(), old_stay, earlier]).last_cga.isoformat() == "2026-03-02"
