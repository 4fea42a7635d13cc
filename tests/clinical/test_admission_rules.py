"""Admission duties through the real engine: GP notice, early notice, admission report, tentative date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Clinic

ADMITTED = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)
INPATIENT = {"encounter_class": "inpatient", "encounter_id": "enc-1", "encounter_start": ADMITTED}


def test_gp_is_notified_when_a_70_year_old_is_admitted(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-start", age=70, has_gp=True, gp_reference="Practitioner/gp-1", **INPATIENT)
    (suggestion,) = result.card("gp-admission-notice").suggestions or []
    resource = suggestion.actions[0].resource
    assert resource["resourceType"] == "CommunicationRequest"
    assert resource["recipient"] == [{"reference": "Practitioner/gp-1"}]
    assert "behandlende lege" in resource["payload"][0]["contentString"]


def test_no_gp_notice_at_69(clinic: Clinic) -> None:
    assert not clinic.evaluate(
        "encounter-start", age=69, has_gp=True, gp_reference="Practitioner/gp-1", **INPATIENT
    ).fired("gp-admission-notice")


def test_no_gp_notice_when_already_notified(clinic: Clinic) -> None:
    facts = {"age": 88, "has_gp": True, "gp_reference": "Practitioner/gp-1", "gp_notified": True, **INPATIENT}
    assert not clinic.evaluate("encounter-start", **facts).fired("gp-admission-notice")


def test_early_notice_reminder_for_home_nursing_patient_on_admission(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-start", now=datetime(2025, 1, 15, 9, 0, tzinfo=UTC), home_nursing=True, **INPATIENT
    )
    assert result.fired("early-notice") and not result.fired("early-notice-overdue")
    assert result.card("early-notice").indicator == "info"


def test_early_notice_becomes_overdue_at_24_hours(clinic: Clinic) -> None:
    before = clinic.evaluate(
        "patient-view", now=datetime(2025, 1, 16, 7, 59, tzinfo=UTC), service_need="new", **INPATIENT
    )
    at = clinic.evaluate("patient-view", now=datetime(2025, 1, 16, 8, 0, tzinfo=UTC), service_need="new", **INPATIENT)
    assert before.fired("early-notice") and not before.fired("early-notice-overdue")
    assert at.fired("early-notice-overdue") and not at.fired("early-notice")


def test_early_notice_lists_its_four_elements(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-start", home_nursing=True, **INPATIENT).card("early-notice")
    (suggestion,) = card.suggestions or []
    payload = [p["contentString"] for p in suggestion.actions[0].resource["payload"]]
    assert payload == ["TIDLIGMELDING", "Pasientens status:", "Antatt forløp:", "Forventet utskrivningstidspunkt:"]


def test_no_early_notice_without_municipal_services_or_need(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-start", home_nursing=False, service_need="none", **INPATIENT).fired(
        "early-notice"
    )


def test_missing_admission_report_is_requested(clinic: Clinic) -> None:
    assert clinic.evaluate("patient-view", home_nursing=True, admission_report_received=False, **INPATIENT).fired(
        "admission-report-missing"
    )


def test_admission_report_status_unknown_gives_no_request(clinic: Clinic) -> None:
    assert not clinic.evaluate("patient-view", home_nursing=True, **INPATIENT).fired("admission-report-missing")


def test_tentative_discharge_date_due_from_day_one(clinic: Clinic) -> None:
    day0 = clinic.evaluate(
        "patient-view", now=datetime(2025, 1, 16, 7, 0, tzinfo=UTC), length_of_stay_days=0, **INPATIENT
    )
    day1 = clinic.evaluate(
        "patient-view", now=datetime(2025, 1, 16, 8, 0, tzinfo=UTC), length_of_stay_days=1, **INPATIENT
    )
    assert not day0.fired("tentative-discharge-date")
    assert day1.fired("tentative-discharge-date")
