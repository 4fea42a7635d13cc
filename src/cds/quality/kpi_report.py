"""KPIs of a bulk NDJSON export: read, compute, format (used by `cds kpi` and the dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cds.quality.calibration import load_codings
from cds.quality.export import BulkExport
from cds.quality.kpi import Group, KpiConfig, KpiRow, Observation, aggregate, data_range, kpi_observations, load_kpi_config
from cds.quality.kpi_records import PatientRecords, extract_records
from cds.quality.sources import load_terminology
from cds.terminology import Terminology

__all__ = ["KpiReport", "format_table", "kpi_report", "observations_of_export"]


@dataclass
class KpiReport:
    rows: list[KpiRow]
    start: date
    end: date
    by: Group | None
    patients: int
    config: KpiConfig


def observations_of_export(
    directory: Path, *, terminology: Terminology | None = None, config: KpiConfig | None = None
) -> tuple[list[Observation], datetime | None, datetime | None, int]:
    """Every KPI observation of the export, the data's first and last moment, and the patient count."""
    terminology = terminology or load_terminology()
    config = config or load_kpi_config()
    codings = load_codings()
    records: list[PatientRecords] = [
        extract_records(pid, resources, codings, terminology) for pid, resources in BulkExport(directory).patients()
    ]
    first, last = data_range(records)
    if last is None:
        return [], first, last, len(records)
    observations = [o for rec in records for o in kpi_observations(rec, config, last)]
    return observations, first, last, len(records)


def kpi_report(
    directory: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    by: Group | None = None,
    terminology: Terminology | None = None,
    config: KpiConfig | None = None,
) -> KpiReport:
    """The KPI table for ``start..end`` (default: the whole data range)."""
    config = config or load_kpi_config()
    observations, first, last, patients = observations_of_export(directory, terminology=terminology, config=config)
    start = start or (first.date() if first else date.today())
    end = end or (last.date() if last else start)
    return KpiReport(aggregate(observations, config, start=start, end=end, by=by), start, end, by, patients, config)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}%" if unit == "share" else f"{value:.1f}"


def _target(row: KpiRow) -> str:
    kpi = row.kpi
    if kpi.target is None:
        return "none yet"
    op = "<=" if kpi.direction == "lower" else ">="
    return f"{op} {_fmt(kpi.target, kpi.unit)}"


def format_table(report: KpiReport) -> str:
    """A plain-text table: KPI, group, value, n, target, baseline, interim target, status."""
    header = ["#", "KPI", "group", "value", "n", "target", "baseline", "interim", "attain.", "status"]
    lines: list[list[str]] = []
    for row in report.rows:
        unit = row.kpi.unit
        status = "-"
        if row.target_met is not None:
            status = "met" if row.target_met else ("on track" if row.on_track else "behind" if row.on_track is False else "not met")
        lines.append(
            [
                str(row.kpi.number),
                row.kpi.title_en,
                row.group or "all",
                _fmt(row.value, unit),
                f"{row.denominator:.0f}" if row.kpi.id != "ukp_days" else f"{row.numerator:.0f} d",
                _target(row),
                _fmt(row.baseline, unit),
                _fmt(row.interim_target, unit),
                "n/a" if row.attainment is None else f"{row.attainment * 100:.0f}%",
                status,
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = [
        f"KPIs {report.start} .. {report.end} ({report.patients} patients); targets: docs/kpi-definitions.md",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    eff = report.config.effective_from
    out.append(
        f"timeline: goal attainment >= 50% after 1 year and 100% after 2 years from {eff} (004:61-63); "
        "baseline = the 12 months before"
    )
    return "\n".join(out)
