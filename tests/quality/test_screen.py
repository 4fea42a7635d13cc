"""Batch screening: every patient through the service's Evaluator, streamed, in export order."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from cds.quality.batch import BatchOptions, EvaluatorSpec, as_of, choose_moment, run_batch
from cds.quality.export import BulkExport
from cds.quality.sources import default_rules_dir

OSLO = ZoneInfo("Europe/Oslo")
KEY = b"a test key of thirty-two bytes!!"


def _options(hook: str = "encounter-discharge", at: datetime | None = None) -> BatchOptions:
    return BatchOptions(hook=hook, at=at, evaluators=(EvaluatorSpec(default_rules_dir()),), pseudonym_key=KEY)


def _run(cohort: Path, options: BatchOptions, workers: int = 1) -> list[dict]:
    out = io.BytesIO()
    run_batch(cohort, options, out, workers=workers, chunk_size=16, progress=False)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def screened(small_cohort: Path) -> list[dict]:
    return _run(small_cohort, _options())


def test_one_line_per_patient(screened: list[dict], small_cohort: Path) -> None:
    assert len(screened) == len(BulkExport(small_cohort).index()) == 300


def test_every_patient_is_evaluated_without_errors(screened: list[dict]) -> None:
    assert {line["status"] for line in screened} == {"ok"}


def test_each_line_has_cards_scores_and_one_pathway(screened: list[dict]) -> None:
    with_pathway_card = 0
    for line in screened:  # exactly one pathway card; "not chosen" derives no pathway
        topics = [c["topic"] for c in line["cards"] if c["topic"].startswith("pathway-")]
        if not topics:  # a patient who died in the stay gets no pathway and no card (living guard, HAZ-01)
            assert line["pathway"] is None and line["cards"] == []
            continue
        with_pathway_card += 1
        (topic,) = topics
        assert line["pathway"] == (None if topic == "pathway-undetermined" else topic[-1].upper())
    assert with_pathway_card >= 0.9 * len(screened)
    assert all("lace" in line["scores"] for line in screened)
    # frail patients at discharge are offered a CGA referral (frailty status itself shows at admission)
    assert any(card["topic"] == "cga-referral" for line in screened for card in line["cards"])


def test_no_patient_identifier_is_written(screened: list[dict], small_cohort: Path) -> None:
    ids = [orjson.loads(line)["id"] for line in (small_cohort / "Patient.ndjson").read_bytes().splitlines()]
    text = orjson.dumps(screened).decode()
    assert all(line["patient"].startswith("p_") for line in screened)
    assert not any(pid in text for pid in ids)


def test_two_processes_write_the_same_lines_as_one(small_cohort: Path, tmp_path: Path) -> None:
    from cds.quality.cohort import generate_cohort

    generate_cohort(40, 3, tmp_path)
    assert _run(tmp_path, _options(), workers=2) == _run(tmp_path, _options(), workers=1)


def test_before_any_stay_an_encounter_hook_finds_nobody_admitted(tmp_path: Path) -> None:
    from cds.quality.cohort import generate_cohort

    generate_cohort(10, 3, tmp_path)
    lines = _run(tmp_path, _options(at=datetime(2000, 1, 1, 12, tzinfo=OSLO)))
    assert {line["status"] for line in lines} == {"not-admitted"}


# -- which encounter, which moment -------------------------------------------------------------

STAYS = [
    {"resourceType": "Patient", "id": "p"},
    {"resourceType": "Encounter", "id": "old", "class": {"code": "IMP"},
     "period": {"start": "2024-01-01T10:00:00+01:00", "end": "2024-01-05T10:00:00+01:00"}},
    {"resourceType": "Encounter", "id": "new", "class": {"code": "IMP"},
     "period": {"start": "2024-02-01T10:00:00+01:00", "end": "2024-02-04T10:00:00+01:00"}},
    {"resourceType": "Observation", "id": "later", "issued": "2024-02-02T10:00:00+01:00",
     "encounter": {"reference": "Encounter/new"}},
]


def test_discharge_is_evaluated_a_minute_before_the_latest_stay_ends() -> None:
    encounter, now = choose_moment(STAYS, "encounter-discharge", None)
    assert encounter == "new" and now == datetime(2024, 2, 4, 9, 59, tzinfo=OSLO)


def test_admission_is_evaluated_half_an_hour_after_the_latest_stay_starts() -> None:
    encounter, now = choose_moment(STAYS, "encounter-start", None)
    assert encounter == "new" and now == datetime(2024, 2, 1, 10, 30, tzinfo=OSLO)


def test_at_picks_the_stay_in_progress_then() -> None:
    at = datetime(2024, 1, 3, 12, tzinfo=OSLO)
    assert choose_moment(STAYS, "encounter-discharge", at) == ("old", at)


def test_as_of_leaves_out_later_stays_and_what_refers_to_them() -> None:
    kept = as_of(STAYS, datetime(2024, 1, 20, tzinfo=OSLO))
    assert [r["id"] for r in kept] == ["p", "old"]


def _cds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cds.cli import main; main()", *args], capture_output=True, text=True, timeout=300
    )


def test_an_unknown_hook_is_a_one_line_error(small_cohort: Path, tmp_path: Path) -> None:
    result = _cds("screen", str(small_cohort), "--hook", "order-dispatch", "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no service for hook 'order-dispatch'" in result.stderr


def test_an_appointment_that_took_place_later_was_booked_at_discharge() -> None:
    appointment = {"resourceType": "Appointment", "id": "a", "status": "fulfilled", "start": "2024-02-15T09:00:00+01:00",
                   "created": "2024-02-03T10:00:00+01:00", "participant": [{"actor": {"reference": "Patient/p"}}]}
    kept = as_of([*STAYS, appointment], datetime(2024, 2, 4, 9, 59, tzinfo=OSLO))
    assert next(r for r in kept if r["id"] == "a")["status"] == "booked"


def test_an_appointment_belongs_to_its_patient_participant() -> None:
    from cds.quality.export import patient_of

    assert patient_of({"resourceType": "Appointment", "participant": [{"actor": {"reference": "Patient/p1"}}]}) == "p1"


def test_screen_prints_each_rule_set_warning_once_before_it_starts(small_cohort: Path, tmp_path: Path) -> None:
    override = tmp_path / "cga-from-6.yaml"
    override.write_text(
        "override: cga-from-6\ndescription: CGA referral from CFS 6\napplies_to: {site: haukeland}\nparameters:\n  cga-referral: {frail_min_cfs: 6}\n",
        encoding="utf-8",
    )
    result = _cds("screen", str(small_cohort), "--hook", "encounter-discharge", "--override", str(override),
                  "--out", str(tmp_path / "x.jsonl"), "--workers", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "decides at CFS 6, which is not a decision cut point" in warnings[0]
