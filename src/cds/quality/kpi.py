"""Quality KPIs from the seeds, computed from patient records (definitions: ``docs/kpi-definitions.md``).

Three steps, each a pure function:

1. `kpi_observations` turns one patient's `PatientRecords` into dated
   observations: ``(kpi, date, municipality, numerator, denominator)``; one per
   stay, contact or municipal stay a KPI counts.
2. `aggregate` sums observations over a period, optionally per month or per
   municipality, into `KpiRow` values with their target.
3. The timeline (baseline, required attainment, interim target) follows the
   seed's "50% after one year, 100% after two" (004:61-63).

Targets, directions and parameters come from ``data/kpi.yaml``.

Example::

    >>> config = load_kpi_config()
    >>> [k.id for k in config.kpis][:3]
    ['ukp_days', 'ukp_zero_day_share', 'ukp_mean_days']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from cds.quality.calibration import DATA_DIR
from cds.quality.kpi_records import PatientRecords

__all__ = [
    "Group",
    "KpiConfig",
    "KpiDefinition",
    "KpiRow",
    "Observation",
    "aggregate",
    "kpi_observations",
    "load_kpi_config",
    "month_of",
]

Group = Literal["month", "municipality"]
_TOTAL_PER_MONTH = {"ukp_days"}  # KPIs whose value is a monthly total (mean per month over a longer period)


@dataclass(frozen=True)
class KpiDefinition:
    id: str
    number: int
    title_nb: str
    title_en: str
    unit: str  # 'share' | 'days'
    direction: str  # 'lower' | 'higher'
    target: float | None
    target_note: str | None
    source: str


@dataclass(frozen=True)
class KpiConfig:
    kpis: tuple[KpiDefinition, ...]
    parameters: dict[str, float]
    effective_from: date
    milestones: tuple[tuple[int, float], ...]
    baseline_months: int

    def kpi(self, kpi_id: str) -> KpiDefinition:
        for k in self.kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(kpi_id)


def load_kpi_config(path: Path | None = None) -> KpiConfig:
    """Load ``data/kpi.yaml`` (or a site's copy of it)."""
    raw = yaml.safe_load((path or DATA_DIR / "kpi.yaml").read_text(encoding="utf-8"))
    kpis = tuple(
        KpiDefinition(
            id=k["id"],
            number=int(k["number"]),
            title_nb=k["title"]["nb"],
            title_en=k["title"]["en"],
            unit=k["unit"],
            direction=k["direction"],
            target=None if k.get("target") is None else float(k["target"]),
            target_note=k.get("target_note"),
            source=k["source"],
        )
        for k in raw["kpis"]
    )
    params = {name: float(p["value"]) for name, p in raw["parameters"].items()}
    timeline = raw["timeline"]
    return KpiConfig(
        kpis=kpis,
        parameters=params,
        effective_from=date.fromisoformat(str(timeline["effective_from"])),
        milestones=tuple((int(m["months"]), float(m["attainment"])) for m in timeline["milestones"]),
        baseline_months=int(timeline["baseline_months"]),
    )


@dataclass(frozen=True, slots=True)
class Observation:
    """One counted unit of one KPI: value = sum(numerator) / sum(denominator) over a group."""

    kpi: str
    when: date
    municipality: str
    numerator: float
    denominator: float


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


# -- step 1: observations ---------------------------------------------------------------


def kpi_observations(records: PatientRecords, config: KpiConfig, data_end: datetime) -> list[Observation]:
    """Every KPI observation of one patient. ``data_end``: the export's last moment (readmission follow-up)."""
    p = config.parameters
    out: list[Observation] = []
    muni = records.municipality
    add = out.append
    contacts = records.contacts
    follow_up_end = data_end - timedelta(days=p["readmission_max_days"])
    min_gap = timedelta(hours=p["readmission_min_hours"])
    max_gap = timedelta(days=p["readmission_max_days"])
    for i, c in enumerate(contacts):
        age_start = records.age_at(c.start)
        if c.inpatient and c.end is not None:
            day = c.end.date()
            if c.ready_for_discharge is not None:
                ukp = max(0, (c.end.date() - c.ready_for_discharge.date()).days)
                add(Observation("ukp_days", day, muni, ukp, 1))
                add(Observation("ukp_zero_day_share", day, muni, 1 if ukp == 0 else 0, 1))
                add(Observation("ukp_mean_days", day, muni, ukp, 1))
            if c.destination is not None and c.destination != "deceased":
                add(Observation("direct_home_share", day, muni, 1 if c.destination == "home" else 0, 1))
            age_end = records.age_at(c.end)
            if (
                age_end is not None
                and age_end >= p["readmission_min_age"]
                and c.destination not in ("deceased", "other-hospital")
                and c.end <= follow_up_end
            ):
                readmitted = any(
                    later.inpatient
                    and later.acute
                    and not later.expected_readmission
                    and min_gap < later.start - c.end <= max_gap
                    for later in contacts[i + 1 :]
                )
                add(Observation("readmission_share", day, muni, 1 if readmitted else 0, 1))
        if age_start is None:
            continue
        if age_start >= p["cfs_min_age"]:
            add(Observation("cfs_documentation_rate", c.start.date(), muni, 1 if c.cfs is not None else 0, 1))
            if c.cfs is not None and p["screened_positive_min_cfs"] <= c.cfs <= p["screened_positive_max_cfs"]:
                add(Observation("cga_referral_rate", c.start.date(), muni, 1 if c.cga_referred else 0, 1))
        if c.inpatient and age_start >= p["gp_notice_min_age"]:
            add(Observation("gp_notification_rate", c.start.date(), muni, 1 if c.gp_notified else 0, 1))
    for stay in records.short_stays:
        if stay.end is not None:
            add(Observation("short_term_stay_mean_days", stay.end.date(), muni, (stay.end.date() - stay.start.date()).days, 1))
    return out


# -- step 2 and 3: aggregation and timeline -------------------------------------------------


@dataclass
class KpiRow:
    """One KPI over one group (the whole period, one month or one municipality)."""

    kpi: KpiDefinition
    group: str | None
    value: float | None
    numerator: float
    denominator: float
    baseline: float | None = None
    attainment: float | None = None
    required: float | None = None
    interim_target: float | None = None
    on_track: bool | None = None
    target_met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi.id,
            "number": self.kpi.number,
            "title": self.kpi.title_en,
            "group": self.group,
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "unit": self.kpi.unit,
            "direction": self.kpi.direction,
            "target": self.kpi.target,
            "baseline": self.baseline,
            "attainment": self.attainment,
            "required": self.required,
            "interim_target": self.interim_target,
            "on_track": self.on_track,
            "target_met": self.target_met,
            "source": self.kpi.source,
        }


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _value(kpi_id: str, num: float, den: float, months: int) -> float | None:
    if kpi_id in _TOTAL_PER_MONTH:
        return num / months if months > 0 else None
    return num / den if den else None


def required_attainment(config: KpiConfig, at: date) -> float:
    """The share of the goal that must be reached at ``at`` (linear between the seed's milestones)."""
    months = (at.year - config.effective_from.year) * 12 + at.month - config.effective_from.month
    if months <= 0:
        return 0.0
    points = [(0, 0.0), *config.milestones]
    for (m0, a0), (m1, a1) in zip(points, points[1:], strict=False):
        if months <= m1:
            return a0 + (a1 - a0) * (months - m0) / (m1 - m0)
    return points[-1][1]


def _meets(direction: str, value: float, target: float) -> bool:
    return value <= target + 1e-12 if direction == "lower" else value >= target - 1e-12


def _attainment(kpi: KpiDefinition, baseline: float, value: float) -> float | None:
    target = kpi.target
    if target is None:
        return None
    if _meets(kpi.direction, baseline, target):
        return 1.0 if _meets(kpi.direction, value, target) else 0.0
    if kpi.direction == "lower":
        return (baseline - value) / (baseline - target)
    return (value - baseline) / (target - baseline)


def aggregate(
    observations: Sequence[Observation],
    config: KpiConfig,
    *,
    start: date,
    end: date,
    by: Group | None = None,
) -> list[KpiRow]:
    """KPI rows for ``start..end`` (inclusive), one per KPI or one per KPI and group, in KPI order."""
    months = _months_between(start, end)
    sums: dict[tuple[str, str | None], list[float]] = defaultdict(lambda: [0.0, 0.0])
    base_start = _add_months(config.effective_from, -config.baseline_months)
    base_sums: dict[tuple[str, str | None], list[float]] = defaultdict(lambda: [0.0, 0.0])
    has_base_data = False
    for o in observations:
        if start <= o.when <= end:
            group = None if by is None else (month_of(o.when) if by == "month" else o.municipality)
            s = sums[(o.kpi, group)]
            s[0] += o.numerator
            s[1] += o.denominator
        if base_start <= o.when < config.effective_from:
            has_base_data = True
            group = o.municipality if by == "municipality" else None
            b = base_sums[(o.kpi, group)]
            b[0] += o.numerator
            b[1] += o.denominator
    groups = sorted({g for (_, g) in sums}, key=lambda g: g or "") if by else [None]
    rows: list[KpiRow] = []
    for kpi in config.kpis:
        for group in groups:
            num, den = sums.get((kpi.id, group), (0.0, 0.0))
            group_months = 1 if by == "month" else months
            value = _value(kpi.id, num, den, group_months) if den else None  # no UKP stay at all: unknown
            row = KpiRow(kpi, group, value, num, den)
            if kpi.target is not None and value is not None:
                row.target_met = _meets(kpi.direction, value, kpi.target)
                # per-municipality rows of an absolute health-community total have no target
                if kpi.id in _TOTAL_PER_MONTH and by == "municipality":
                    row.target_met = None
            if kpi.target is not None and has_base_data and row.target_met is not None:
                bkey = (kpi.id, group if by == "municipality" else None)
                bnum, bden = base_sums.get(bkey, (0.0, 0.0))
                baseline = _value(kpi.id, bnum, bden, config.baseline_months) if bden else None
                if baseline is not None and value is not None:
                    last_day = date(int(group[:4]), int(group[5:7]), 1) if by == "month" and group else end
                    row.baseline = baseline
                    row.required = required_attainment(config, last_day)
                    row.interim_target = (
                        kpi.target
                        if _meets(kpi.direction, baseline, kpi.target)  # nothing to close: the goal itself
                        else baseline + row.required * (kpi.target - baseline)
                    )
                    row.attainment = _attainment(kpi, baseline, value)
                    row.on_track = _meets(kpi.direction, value, row.interim_target)
            rows.append(row)
    return rows


def data_range(records: Iterable[PatientRecords]) -> tuple[datetime | None, datetime | None]:
    """The first contact start and the last contact end (or start) in the records."""
    first: datetime | None = None
    last: datetime | None = None
    for rec in records:
        for c in rec.contacts:
            first = c.start if first is None or c.start < first else first
            moment = c.end or c.start
            last = moment if last is None or moment > last else last
        for s in rec.short_stays:
            moment = s.end or s.start
            last = moment if last is None or moment > last else last
    return first, last
