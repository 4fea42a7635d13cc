"""`cds kpi` output: every KPI with its target, per municipality and per month."""

from __future__ import annotations

from pathlib import Path

from cds.quality.kpi import load_kpi_config
from cds.quality.kpi_report import format_table, kpi_report


def test_the_table_lists_every_kpi_with_its_target(small_cohort: Path) -> None:
    table = format_table(kpi_report(small_cohort))
    for kpi in load_kpi_config().kpis:
        line = next(line for line in table.splitlines() if kpi.title_en in line)
        expected = "none yet" if kpi.target is None else ("<=" if kpi.direction == "lower" else ">=")
        assert expected in line


def test_by_municipality_gives_rows_per_kommunenummer(small_cohort: Path) -> None:
    report = kpi_report(small_cohort, by="municipality")
    groups = {row.group for row in report.rows}
    assert "5001" in groups and all(g is not None and (g.isdigit() or g == "unknown") for g in groups)


def test_municipal_rows_of_the_health_community_total_have_no_target_verdict(small_cohort: Path) -> None:
    report = kpi_report(small_cohort, by="municipality")
    assert all(row.target_met is None for row in report.rows if row.kpi.id == "ukp_days")


def test_the_monthly_rows_cover_the_cohort_window(small_cohort: Path) -> None:
    report = kpi_report(small_cohort, by="month")
    months = sorted({row.group for row in report.rows if row.group})
    assert months[0] == "2022-09" and len(months) >= 36
