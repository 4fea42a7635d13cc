"""Admission duties and discharge preparation: GP notice, early notice, admission report, appointments."""

from __future__ import annotations

from datetime import datetime, timedelta

from factkit import ADMITTED, EID, LOCAL, NOW, SNOMED, build, concept, encounter, patient

MESSAGE = f"{LOCAL}/care-message"
DISCHARGE = NOW
STAY = encounter(end=DISCHARGE)


def message(cid: str, kind: str, sent: datetime, *, linked: bool = True, status: str = "completed") -> dict:
    resource = {
        "resourceType": "Communication",
        "id": cid,
        "status": status,
        "category": [concept(MESSAGE, kind)],
        "subject": {"reference": "Patient/kari"},
        "sent": sent.isoformat(),
    }
    if linked:
        resource["encounter"] = {"reference": f"Encounter/{EID}"}
    return resource


def appointment(
    aid: str, start: datetime, *, gp: bool = False, status: str = "booked", with_gp_actor: bool = False
) -> dict:
    participants = [{"actor": {"reference": "Patient/kari"}, "status": "accepted"}]
    if with_gp_actor:
        participants.append({"actor": {"reference": "Practitioner/gp-1"}, "status": "accepted"})
    resource = {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=20)).isoformat(),
        "participant": participants,
    }
    if gp:
        resource["specialty"] = [concept(SNOMED, "394814009")]
    return resource


def test_gp_admission_notice_of_this_stay_counts() -> None:
    notice = message("n", "gp-admission-notice", ADMITTED + timedelta(hours=2))
    assert build([patient(), STAY, notice]).gp_notified is True


def test_gp_notice_from_an_earlier_stay_does_not_count() -> None:
    old = message("n", "gp-admission-notice", ADMITTED - timedelta(days=90), linked=False)
    assert build([patient(), STAY, old]).gp_notified is False


def test_gp_notified_is_unknown_without_communication_data_or_encounter() -> None:
    assert build([patient(), STAY]).gp_notified is None
    assert build([patient()], encounter_id=None, searched=["Communication"]).gp_notified is None


def test_early_notice_time_is_the_first_one_sent() -> None:
    first = message("e1", "early-notice", ADMITTED + timedelta(hours=20))
    second = message("e2", "early-notice", ADMITTED + timedelta(days=2))
    assert build([patient(), STAY, second, first]).early_notice_sent == ADMITTED + timedelta(hours=20)


def test_unsent_message_does_not_count() -> None:
    draft = message("e", "early-notice", ADMITTED + timedelta(hours=3), status="preparation")
    assert build([patient(), STAY, draft]).early_notice_sent is None


def test_admission_report_as_a_document_reference_of_this_stay() -> None:
    report = {
        "resourceType": "DocumentReference",
        "id": "d",
        "status": "current",
        "type": concept(MESSAGE, "admission-report"),
        "subject": {"reference": "Patient/kari"},
        "context": {"encounter": [{"reference": f"Encounter/{EID}"}]},
        "content": [{"attachment": {"contentType": "text/plain"}}],
    }
    assert build([patient(), STAY, report]).admission_report_received is True


def test_admission_report_missing_when_messages_are_known() -> None:
    assert build([patient(), STAY], searched=["Communication"]).admission_report_received is False


def test_follow_up_booked_only_for_appointments_after_discharge() -> None:
    past = appointment("old", DISCHARGE - timedelta(days=30))
    assert build([patient(), STAY, past]).follow_up_booked is False
    future = appointment("new", DISCHARGE + timedelta(days=21))
    assert build([patient(), STAY, future]).follow_up_booked is True


def test_cancelled_appointment_is_not_a_follow_up() -> None:
    cancelled = appointment("x", DISCHARGE + timedelta(days=5), status="cancelled")
    assert build([patient(), STAY, cancelled], searched=["Appointment"]).follow_up_booked is False


def test_gp_follow_up_days_from_a_general_practice_appointment() -> None:
    gp = appointment("gp", DISCHARGE + timedelta(days=9), gp=True)
    hospital = appointment("opd", DISCHARGE + timedelta(days=3))
    snapshot = build([patient(), STAY, gp, hospital])
    assert snapshot.gp_follow_up_within_days == 9


def test_gp_follow_up_recognised_by_the_patients_gp_as_participant() -> None:
    gp = appointment("gp", DISCHARGE + timedelta(days=12), with_gp_actor=True)
    me = patient(generalPractitioner=[{"reference": "Practitioner/gp-1"}])
    assert build([me, STAY, gp]).gp_follow_up_within_days == 12


def test_no_gp_appointment_leaves_gp_follow_up_unknown() -> None:
    hospital = appointment("opd", DISCHARGE + timedelta(days=3))
    assert build([patient(), STAY, hospital]).gp_follow_up_within_days is None
