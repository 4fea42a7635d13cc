"""Clinical time is Europe/Oslo: birthdays, calendar-day counts and calendar windows turn at Norwegian midnight.

Whatever zone `now` comes in (the service clock is UTC, ``--now`` may carry
+01:00), the snapshot reckons calendar facts in the clinical zone; elapsed
windows (24 hours) stay elapsed. The DST change days of 2026 are Sunday
29 March (23 hours) and Sunday 25 October (25 hours).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from factkit import NOW, SNOMED, build, concept, encounter, observation, patient

from cds.clinicaltime import DEFAULT_ZONE, parse_moment, zone

OSLO = ZoneInfo("Europe/Oslo")
CET = timezone(timedelta(hours=1))
SIGNAL = "https://fhir.cds-frailty.no/CodeSystem/clinical-signal"

#: the same instant written in other zones than Oslo's
ZONES: list[tzinfo] = [UTC, CET, timezone(timedelta(hours=2)), ZoneInfo("America/New_York"), OSLO]


def _age(birth: str, now_utc: datetime, shown_in: tzinfo) -> int | None:
    return build([patient(birthDate=birth)], encounter_id=None, now=now_utc.astimezone(shown_in)).age


@pytest.mark.parametrize("shown_in", ZONES, ids=str)
@pytest.mark.parametrize(
    ("birth", "oslo_midnight_utc"),
    [
        ("1956-11-21", datetime(2026, 11, 20, 23, 0, tzinfo=UTC)),  # an ordinary winter day (+01:00)
        ("1956-03-29", datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # the 23-hour day begins at +01:00
        ("1956-03-30", datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),  # the day after it begins at +02:00
        ("1956-10-25", datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),  # the 25-hour day begins at +02:00
        ("1956-10-26", datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),  # the day after it begins at +01:00
    ],
    ids=["winter", "march-dst-day", "after-march-dst", "october-dst-day", "after-october-dst"],
)
def test_a_patient_turns_70_at_norwegian_midnight_whatever_zone_now_is_given_in(
    birth: str, oslo_midnight_utc: datetime, shown_in: tzinfo
) -> None:
    assert _age(birth, oslo_midnight_utc - timedelta(minutes=1), shown_in) == 69  # 23:59 in Oslo
    assert _age(birth, oslo_midnight_utc, shown_in) == 70  # 00:00 in Oslo


def test_the_snapshot_now_is_the_same_instant_in_the_clinical_zone() -> None:
    moment = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    snapshot = build([patient()], encounter_id=None, now=moment)
    assert snapshot.now == moment and snapshot.now.utcoffset() == timedelta(hours=1)
    assert snapshot.now.date().isoformat() == "2026-11-21"


def test_the_snapshot_clock_subtracts_elapsed_hours_on_the_25_hour_day() -> None:
    moment = datetime(2026, 10, 25, 23, 30, tzinfo=OSLO)
    snapshot = build([patient()], encounter_id=None, now=moment)
    day_before = snapshot.now - timedelta(hours=24)
    assert day_before.astimezone(UTC) == moment.astimezone(UTC) - timedelta(hours=24)
    assert day_before.astimezone(OSLO).hour == 0  # 00:30 the same Oslo date: that day had 25 hours


def _elapsed(start: datetime, end: datetime) -> timedelta:
    return end.astimezone(UTC) - start.astimezone(UTC)  # within one ZoneInfo Python subtracts wall-clock time


def _stay_days(admitted: datetime, now: datetime) -> int | None:
    return build([patient(), encounter(start=admitted)], now=now).length_of_stay_days


@pytest.mark.parametrize("shown_in", ZONES, ids=str)
def test_stay_days_count_oslo_calendar_days_not_utc_days(shown_in: tzinfo) -> None:
    admitted = datetime(2026, 11, 20, 0, 30, tzinfo=OSLO)  # 23:30 UTC the day before
    assert _stay_days(admitted, datetime(2026, 11, 20, 23, 0, tzinfo=OSLO).astimezone(shown_in)) == 0
    assert _stay_days(admitted, datetime(2026, 11, 21, 0, 0, tzinfo=OSLO).astimezone(shown_in)) == 1


@pytest.mark.parametrize("shown_in", ZONES, ids=str)
def test_the_25_hour_day_is_one_calendar_day_and_the_23_hour_day_too(shown_in: tzinfo) -> None:
    october = datetime(2026, 10, 25, 0, 30, tzinfo=OSLO)
    late_october = datetime(2026, 10, 25, 23, 30, tzinfo=OSLO)
    assert _elapsed(october, late_october) == timedelta(hours=24)  # 24 elapsed hours, still the same Oslo date
    assert _stay_days(october, late_october.astimezone(shown_in)) == 0
    march = datetime(2026, 3, 29, 0, 30, tzinfo=OSLO)
    next_march_day = datetime(2026, 3, 30, 0, 15, tzinfo=OSLO)
    assert _elapsed(march, next_march_day) == timedelta(hours=22, minutes=45)  # under a day elapsed, the next Oslo date
    assert _stay_days(march, next_march_day.astimezone(shown_in)) == 1


def test_the_24_hour_window_before_discharge_stays_24_elapsed_hours_on_the_25_hour_day() -> None:
    discharge = datetime(2026, 10, 25, 23, 30, tzinfo=OSLO)
    stay = encounter(start=datetime(2026, 10, 20, 10, 0, tzinfo=OSLO), end=discharge)

    def signal_at(when: datetime) -> bool | None:
        symptom = observation("s", concept(SIGNAL, "new-symptoms"), when, valueBoolean=True)
        return build([patient(), stay, symptom], now=discharge.astimezone(UTC)).new_symptoms_before_discharge

    assert signal_at(discharge.astimezone(UTC) - timedelta(hours=23, minutes=45)) is True
    # 00:15 the same Oslo day, but 24 h 15 min before discharge: outside the elapsed window
    assert signal_at(datetime(2026, 10, 25, 0, 15, tzinfo=OSLO)) is None


def test_a_cfs_scored_just_after_oslo_midnight_is_dated_by_the_oslo_calendar() -> None:
    # 00:10 in Oslo on 20 November is 23:10 UTC on the 19th: scored "today", 0 days old
    cfs = observation("cfs", concept(SNOMED, "763264000"), datetime(2026, 11, 19, 23, 10, tzinfo=UTC), valueInteger=5)
    snapshot = build([patient(), encounter(), cfs], now=datetime(2026, 11, 20, 22, 0, tzinfo=UTC))
    assert snapshot.cfs is not None and snapshot.cfs_age_days == 0


def test_the_zone_is_passed_in_so_another_clinical_zone_gives_another_calendar() -> None:
    from factkit import PID, TERMINOLOGY

    from cds.facts import build_snapshot
    from cds.fhir.resources import ResourceSet

    moment = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 00:30 on the 21st in Oslo
    resources = ResourceSet.from_json([patient(birthDate="1956-11-21")])
    common = {"patient_id": PID, "encounter_id": None, "now": moment, "terminology": TERMINOLOGY, "patient_key": "k"}
    assert build_snapshot(resources, **common).age == 70  # the default is Europe/Oslo
    assert build_snapshot(resources, **common, clinical_zone=UTC).age == 69
    assert NOW.tzinfo is not None  # factkit's clock is aware; the builder accepts any aware zone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T11:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),  # naive: Oslo (+01:00)
        ("2026-07-01T11:00", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)),  # naive in summer: +02:00
        ("2026-11-20T11:00:00+00:00", datetime(2026, 11, 20, 11, 0, tzinfo=UTC)),  # an offset wins
        ("2026-11-20T11:00:00Z", datetime(2026, 11, 20, 11, 0, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),  # a bare date: Oslo midnight
        ("2026-03-29T03:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # after the spring change: +02:00
        ("2026-10-25T03:30", datetime(2026, 10, 25, 2, 30, tzinfo=UTC)),  # after the autumn change: +01:00
    ],
)
def test_parse_moment_reads_times_without_an_offset_as_oslo_time(text: str, expected: datetime) -> None:
    assert parse_moment(text, DEFAULT_ZONE) == expected


def test_an_unknown_zone_name_is_refused_with_what_to_give() -> None:
    with pytest.raises(ValueError, match="IANA name such as Europe/Oslo"):
        zone("Europe/Bergen")


def test_a_card_shows_the_oslo_date_of_a_cfs_recorded_just_after_oslo_midnight() -> None:
    from factkit import PID

    from cds import bundled
    from cds.evaluation import EvaluationCall, Evaluator
    from cds.fhir.resources import ResourceSet

    cfs = observation("cfs", concept(SNOMED, "763264000"), datetime(2026, 11, 10, 12, 0, tzinfo=UTC), valueInteger=5,
                      issued="2026-11-19T23:10:00Z")  # 00:10 on 20 November in Oslo
    evaluator = Evaluator.from_paths(rules_dir=bundled.RULES_DIR, model_dir=None, pseudonym_key=b"k" * 32)
    call = EvaluationCall("frailty", "patient-view", PID, None, None, datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
                          ResourceSet.from_json([patient(), cfs]))
    details = [card["detail"] for card in evaluator.evaluate(call).cards if "Registrert:" in card.get("detail", "")]
    assert details and "Registrert: 20.11.2026" in details[0]
