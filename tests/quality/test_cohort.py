"""The synthetic cohort: reproducible, Norwegian-shaped, calibrated, synthetic identities only."""

from __future__ import annotations

import filecmp
from pathlib import Path

import orjson
import pytest

from cds.quality.calibration import CalibrationError, load_calibration
from cds.quality.cohort import generate_cohort, patient_resources
from cds.quality.fnr import is_synthetic
from cds.quality.kpi_report import kpi_report


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    generate_cohort(40, 11, tmp_path / "a")
    generate_cohort(40, 11, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)


def test_another_seed_gives_other_patients(tmp_path: Path) -> None:
    generate_cohort(20, 1, tmp_path / "a")
    generate_cohort(20, 2, tmp_path / "b")
    assert (tmp_path / "a" / "Patient.ndjson").read_bytes() != (tmp_path / "b" / "Patient.ndjson").read_bytes()


def test_a_small_cohort_is_the_start_of_a_larger_one_with_the_same_seed(tmp_path: Path) -> None:
    generate_cohort(5, 3, tmp_path / "small")
    generate_cohort(30, 3, tmp_path / "large")
    small = (tmp_path / "small" / "Patient.ndjson").read_bytes().splitlines()
    large = (tmp_path / "large" / "Patient.ndjson").read_bytes().splitlines()
    assert large[:5] == small


def test_one_file_per_resource_type_and_a_bulk_manifest(small_cohort: Path) -> None:
    manifest = orjson.loads((small_cohort / "export.json").read_bytes())
    for output in manifest["output"]:
        rows = _lines(small_cohort / output["url"])
        assert len(rows) == output["count"]
        assert {r["resourceType"] for r in rows} == {output["type"]}


def test_every_fodselsnummer_is_synthetic(small_cohort: Path) -> None:
    numbers = [i["value"] for p in _lines(small_cohort / "Patient.ndjson") for i in p.get("identifier", [])]
    assert numbers and all(is_synthetic(n) for n in numbers)


def test_patients_live_in_real_trondelag_municipalities(small_cohort: Path) -> None:
    codes = {m["code"] for m in load_calibration().municipalities}
    seen = {p["address"][0]["district"] for p in _lines(small_cohort / "Patient.ndjson")}
    assert seen <= codes and "5001" in seen


def test_about_half_of_those_over_80_are_frail(tmp_path: Path) -> None:
    summary = generate_cohort(2000, 5, tmp_path)
    assert 0.40 <= summary.figures["frail_share_80_plus"] <= 0.60


def test_readmission_share_is_near_the_helse_vest_figure(tmp_path: Path) -> None:
    generate_cohort(3000, 9, tmp_path)
    row = next(r for r in kpi_report(tmp_path).rows if r.kpi.id == "readmission_share")
    assert row.value is not None and 0.08 <= row.value <= 0.16  # 11.92% in 000:1957-1959


def test_cfs_share_zero_documents_no_cfs(tmp_path: Path) -> None:
    generate_cohort(100, 4, tmp_path, cfs_share=0.0)
    row = next(r for r in kpi_report(tmp_path).rows if r.kpi.id == "cfs_documentation_rate")
    assert row.value == 0.0


def test_cfs_share_one_documents_every_contact_aged_70_plus(tmp_path: Path) -> None:
    generate_cohort(100, 4, tmp_path, cfs_share=1.0)
    row = next(r for r in kpi_report(tmp_path).rows if r.kpi.id == "cfs_documentation_rate")
    assert row.value == 1.0


def test_an_out_of_range_cfs_share_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        generate_cohort(10, 1, tmp_path, cfs_share=1.5)


def test_a_calibration_section_without_source_is_refused(tmp_path: Path) -> None:
    text = (Path(load_calibration().source)).read_text(encoding="utf-8")
    bad = tmp_path / "cal.yaml"
    bad.write_text(text.replace('  source: "assumption: women are the majority of the oldest patients"\n', ""))
    with pytest.raises(CalibrationError, match="female_share"):
        load_calibration(bad)


def test_patient_resources_start_with_the_patient() -> None:
    resources = patient_resources(0, 1)
    assert resources[0]["resourceType"] == "Patient"
    assert all(r["resourceType"] != "Patient" for r in resources[1:])


def test_an_existing_export_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    generate_cohort(3, 1, tmp_path)
    with pytest.raises(FileExistsError, match="--force"):
        generate_cohort(3, 2, tmp_path)


def test_force_replaces_every_ndjson_file(tmp_path: Path) -> None:
    generate_cohort(3, 1, tmp_path)
    (tmp_path / "Stale.ndjson").write_text("{}\n")
    generate_cohort(3, 2, tmp_path, overwrite=True)
    assert not (tmp_path / "Stale.ndjson").exists()
