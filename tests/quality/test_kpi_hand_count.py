"""KPIs on seven hand-written patients, counted on paper first (docs/kpi-definitions.md).

The paper count (March-May 2024, data end = Cecilie's last discharge 2024-05-03,
so index stays need a discharge on or before 2024-04-03):

Inpatient stays: A1 A2 (Astrid 84), B1 B2 (Bjørn 72), C1 C2 C3 (Cecilie 68),
D1 (Dagny 91, died), E1 E2 (Erik 55), F1 F2 (Frida 80), G1 G2 (Gunnar 77) = 14.

1 UKP days: A1 3 + B1 0 + F2 2 = 5 (all discharged in March; 5/3 per month over three months)
2 zero-day share: 1 of 3 UKP stays (B1)
3 mean UKP days: 5 / 3
4 directly home: 10 of 13 alive discharges (A1 short-term stay, F1 other hospital, F2 nursing home are not home)
5 readmission: index stays A1 A2 B1 B2 C1 C2 F2 G1 = 8 (C3, G2 too late for follow-up; D1 died;
  E too young; F1 transferred); readmitted A1 (A2 after 12 days) and G1 (G2 after 8 days) = 2.
  B1 -> B2 after 5 hours is not a readmission; C1 -> C2 is expected (Z51.1) and excluded.
6 short-term stay: Astrid 2024-03-08 .. 2024-03-30 = 22 days
7 CFS documentation in contacts 70+: A1 A2 B1 B2 B-ED D1 F1 F2 G1 G2 = 10 contacts; documented A1 B1 D1 F2
  and G1 (no encounter reference, issued during G1) = 5
8 GP notified, admissions 70+: A1 A2 B1 B2 D1 F1 F2 G1 G2 = 9; notified A1 B1 F1 F2 = 4
9 CGA among screened-positive (CFS 5-8): A1 (6) and D1 (8) = 2; referred A1 = 1 (F2 has CFS 9: not counted)
"""

from __future__ import annotations

from datetime import date
from types import ModuleType

import pytest

from cds.quality.calibration import load_codings
from cds.quality.kpi import aggregate, data_range, kpi_observations, load_kpi_config
from cds.quality.kpi_records import PatientRecords, extract_records
from cds.quality.sources import load_terminology


def _cohort(f: ModuleType) -> dict[str, list[dict]]:
    return {
        "astrid": [
            f.patient("astrid", "1939-06-01", "5001"),
            f.stay("astrid", "A1", "2024-03-01T10:00:00+01:00", "2024-03-08T11:00:00+01:00", "short-term-stay",
                   ready="2024-03-05T12:00:00+01:00"),
            f.stay("astrid", "A2", "2024-03-20T10:00:00+01:00", "2024-03-25T11:00:00+01:00", "home"),
            f.cfs("astrid", "A1-cfs", 6, "2024-03-01T15:00:00+01:00", "A1"),
            f.gp_notice("astrid", "A1-gp", "A1"),
            f.cga_referral("astrid", "A1-cga", "A1"),
            f.short_term_stay("astrid", "A-st", "2024-03-08T11:00:00+01:00", "2024-03-30T11:00:00+01:00"),
        ],
        "bjorn": [
            f.patient("bjorn", "1951-07-01", "5031", "male"),
            f.stay("bjorn", "B1", "2024-03-10T10:00:00+01:00", "2024-03-14T15:00:00+01:00", "home",
                   ready="2024-03-14T09:00:00+01:00"),
            f.stay("bjorn", "B2", "2024-03-14T20:00:00+01:00", "2024-03-16T12:00:00+01:00", "home"),
            f.stay("bjorn", "B-ED", "2024-04-02T10:00:00+02:00", "2024-04-02T15:00:00+02:00", "home", klass="EMER"),
            f.cfs("bjorn", "B1-cfs", 3, "2024-03-10T15:00:00+01:00", "B1"),
            f.gp_notice("bjorn", "B1-gp", "B1"),
        ],
        "cecilie": [
            f.patient("cecilie", "1955-08-01", "5001"),
            f.stay("cecilie", "C1", "2024-03-03T10:00:00+01:00", "2024-03-06T11:00:00+01:00", "home", acute=False),
            f.stay("cecilie", "C2", "2024-03-20T10:00:00+01:00", "2024-03-22T11:00:00+01:00", "home", reason="Z51.1"),
            f.stay("cecilie", "C3", "2024-04-30T10:00:00+02:00", "2024-05-03T11:00:00+02:00", "home"),
        ],
        "dagny": [
            f.patient("dagny", "1932-09-01", "5001"),
            f.stay("dagny", "D1", "2024-03-15T10:00:00+01:00", "2024-03-18T11:00:00+01:00", "deceased"),
            f.cfs("dagny", "D1-cfs", 8, "2024-03-15T15:00:00+01:00", "D1"),
        ],
        "erik": [
            f.patient("erik", "1968-10-01", "5029", "male"),
            f.stay("erik", "E1", "2024-03-02T10:00:00+01:00", "2024-03-04T11:00:00+01:00", "home"),
            f.stay("erik", "E2", "2024-03-10T10:00:00+01:00", "2024-03-12T11:00:00+01:00", "home"),
        ],
        "frida": [
            f.patient("frida", "1943-11-01", "5001"),
            f.stay("frida", "F1", "2024-03-05T10:00:00+01:00", "2024-03-09T11:00:00+01:00", "other-hospital"),
            f.stay("frida", "F2", "2024-03-15T10:00:00+01:00", "2024-03-18T11:00:00+01:00", "nursing-home",
                   ready="2024-03-16T10:00:00+01:00"),
            f.cfs("frida", "F2-cfs", 9, "2024-03-15T15:00:00+01:00", "F2"),
            f.gp_notice("frida", "F1-gp", "F1"),
            f.gp_notice("frida", "F2-gp", "F2"),
        ],
        "gunnar": [
            f.patient("gunnar", "1946-12-01", "5001", "male"),
            f.stay("gunnar", "G1", "2024-03-25T10:00:00+01:00", "2024-03-28T11:00:00+01:00", "home"),
            f.stay("gunnar", "G2", "2024-04-05T09:00:00+02:00", "2024-04-07T11:00:00+02:00", "home"),
            f.cfs("gunnar", "G1-cfs", 4, "2024-03-26T09:00:00+01:00"),
        ],
    }


@pytest.fixture(scope="module")
def records(fhir: ModuleType) -> list[PatientRecords]:
    terminology, codings = load_terminology(), load_codings()
    return [extract_records(pid, res, codings, terminology) for pid, res in _cohort(fhir).items()]


@pytest.fixture(scope="module")
def rows(records: list[PatientRecords]) -> dict[str, tuple[float | None, float, float]]:
    config = load_kpi_config()
    _, last = data_range(records)
    assert last is not None
    observations = [o for r in records for o in kpi_observations(r, config, last)]
    table = aggregate(observations, config, start=date(2024, 3, 1), end=date(2024, 5, 31))
    return {row.kpi.id: (row.value, row.numerator, row.denominator) for row in table}


def test_ukp_days_total_five_over_three_months(rows: dict) -> None:
    value, numerator, _ = rows["ukp_days"]
    assert numerator == 5
    assert value == pytest.approx(5 / 3)


def test_one_of_three_ukp_stays_had_zero_days(rows: dict) -> None:
    assert rows["ukp_zero_day_share"][1:] == (1, 3)


def test_mean_ukp_days_is_five_thirds(rows: dict) -> None:
    assert rows["ukp_mean_days"][0] == pytest.approx(5 / 3)


def test_ten_of_thirteen_alive_discharges_went_directly_home(rows: dict) -> None:
    assert rows["direct_home_share"][1:] == (10, 13)


def test_two_of_eight_index_stays_were_readmitted(rows: dict) -> None:
    assert rows["readmission_share"][1:] == (2, 8)


def test_short_term_stay_lasted_22_days(rows: dict) -> None:
    assert rows["short_term_stay_mean_days"][0] == 22


def test_cfs_documented_in_five_of_ten_contacts_aged_70_plus(rows: dict) -> None:
    assert rows["cfs_documentation_rate"][1:] == (5, 10)


def test_gp_notified_for_four_of_nine_admissions_aged_70_plus(rows: dict) -> None:
    assert rows["gp_notification_rate"][1:] == (4, 9)


def test_one_of_two_screened_positive_was_referred_to_cga(rows: dict) -> None:
    assert rows["cga_referral_rate"][1:] == (1, 2)


def test_monthly_rows_put_all_ukp_days_in_march(records: list[PatientRecords]) -> None:
    config = load_kpi_config()
    _, last = data_range(records)
    observations = [o for r in records for o in kpi_observations(r, config, last)]
    table = aggregate(observations, config, start=date(2024, 3, 1), end=date(2024, 5, 31), by="month")
    ukp = {row.group: row.value for row in table if row.kpi.id == "ukp_days"}
    assert ukp["2024-03"] == 5


def test_a_kpi_without_data_is_unknown_not_zero(records: list[PatientRecords]) -> None:
    config = load_kpi_config()
    _, last = data_range(records)
    observations = [o for r in records for o in kpi_observations(r, config, last)]
    table = aggregate(observations, config, start=date(2024, 5, 1), end=date(2024, 5, 31))
    row = next(r for r in table if r.kpi.id == "ukp_zero_day_share")
    assert row.value is None
