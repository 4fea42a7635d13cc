"""Lab unit conversion: documented factors, never a guessed unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.terminology import Terminology

VALUESETS = Path(__file__).resolve().parents[2] / "rules" / "valuesets"


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return Terminology.load(VALUESETS)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [(11.2, "g/dL", 11.2), (112, "g/L", 11.2), (112, "g/l", 11.2), (7.0, "mmol/L", 11.28), (7.45, "mmol/l", 12.005)],
)
def test_haemoglobin_converts_to_g_per_dl(terminology: Terminology, value: float, unit: str, expected: float) -> None:
    assert terminology.lab("lab.haemoglobin").to_canonical(value, unit) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("percent", "ifcc"), [(6.5, 48), (7.0, 53), (8.0, 64), (10.0, 86)])
def test_hba1c_percent_converts_to_ifcc_by_the_master_equation(
    terminology: Terminology, percent: float, ifcc: int
) -> None:
    # reference pairs from the IFCC/NGSP conversion tables (rounded to whole mmol/mol)
    assert round(terminology.lab("lab.hba1c").to_canonical(percent, "%")) == ifcc


def test_creatinine_mg_per_dl_converts_to_umol_per_l(terminology: Terminology) -> None:
    assert terminology.lab("lab.creatinine").to_canonical(1.0, "mg/dL") == pytest.approx(88.42)


@pytest.mark.parametrize("unit", [None, "", "mg/dL", "furlongs"])
def test_unknown_or_missing_unit_is_never_guessed(terminology: Terminology, unit: str | None) -> None:
    assert terminology.lab("lab.haemoglobin").to_canonical(11.0, unit) is None


def test_lab_concept_is_found_by_loinc_or_npu_code(terminology: Terminology) -> None:
    loinc = terminology.lab_concept_of([{"system": "http://loinc.org", "code": "2951-2"}])
    npu = terminology.lab_concept_of([{"system": "urn:oid:2.16.578.1.12.4.1.1.7280", "code": "npu03429"}])
    assert loinc is not None and npu is not None
    assert loinc.id == npu.id == "lab.sodium"


@pytest.mark.parametrize(("ifcc", "percent"), [(48.0, 6.5), (53.0, 7.0), (64.0, 8.0), (86.0, 10.0)])
def test_hba1c_ifcc_converts_back_to_percent_by_the_inverse_equation(
    terminology: Terminology, ifcc: float, percent: float
) -> None:
    assert round(terminology.lab("lab.hba1c").from_canonical(ifcc, "%"), 1) == percent


def test_a_value_converted_to_canonical_and_back_is_unchanged(terminology: Terminology) -> None:
    hba1c = terminology.lab("lab.hba1c")
    assert hba1c.from_canonical(hba1c.to_canonical(7.3, "%"), "%") == pytest.approx(7.3, abs=1e-12)


def test_from_canonical_into_an_unknown_unit_is_none(terminology: Terminology) -> None:
    assert terminology.lab("lab.hba1c").from_canonical(53.0, "furlongs") is None


def test_the_spellings_of_percent_are_its_aliases_in_the_lab_table(terminology: Terminology) -> None:
    assert {"%", "% Hb", "%{Hb}"} <= terminology.lab("lab.hba1c").spellings_of("%")
    assert "mmol/mol" not in terminology.lab("lab.hba1c").spellings_of("%")
