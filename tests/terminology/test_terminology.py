"""Terminology: value sets from YAML, system aliases, ICD-10 normalisation, site overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.facts.snapshot import Coding
from cds.terminology import Terminology, TerminologyError

REPO = Path(__file__).resolve().parents[2]
VALUESETS = REPO / "rules" / "valuesets"
NO_ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
LOCAL_SERVICE = "https://fhir.cds-frailty.no/CodeSystem/municipal-service"


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return Terminology.load(VALUESETS)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("system", [NO_ICD10, "http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"])
def test_every_icd10_system_matches_an_icd10_value_set(terminology: Terminology, system: str) -> None:
    assert terminology.contains("chronic.heart-failure", {"system": system, "code": "I50.0"})


@pytest.mark.parametrize("code", ["I50.0", "I500", "i50.0", " I50.0 ", "I50"])
def test_icd10_codes_are_normalised_for_dots_case_and_spaces(terminology: Terminology, code: str) -> None:
    assert terminology.contains("chronic.heart-failure", Coding(system=NO_ICD10, code=code))


def test_prefix_match_does_not_leak_into_neighbouring_categories(terminology: Terminology) -> None:
    assert not terminology.contains("chronic.heart-failure", {"system": NO_ICD10, "code": "I51.0"})


def test_exact_icd10_code_matches_with_or_without_dot(terminology: Terminology) -> None:
    assert terminology.contains("signal.end-of-life", {"system": NO_ICD10, "code": "Z515"})
    assert not terminology.contains("signal.end-of-life", {"system": NO_ICD10, "code": "Z51.1"})


def test_icpc2_oid_matches_case_insensitively(terminology: Terminology) -> None:
    assert terminology.contains("chronic.copd", {"system": "urn:oid:2.16.578.1.12.4.1.1.7170", "code": "r95"})


def test_snomed_codes_match_exactly(terminology: Terminology) -> None:
    assert terminology.contains("signal.suspected-delirium", {"system": "http://snomed.info/sct", "code": "2776000"})
    assert not terminology.contains("signal.suspected-delirium", {"system": "http://snomed.info/sct", "code": "27760"})


def test_coding_without_system_matches_nothing(terminology: Terminology) -> None:
    assert not terminology.contains("chronic.heart-failure", {"code": "I50.0"})


def test_code_from_another_system_does_not_match(terminology: Terminology) -> None:
    assert not terminology.contains("chronic.heart-failure", {"system": "http://loinc.org", "code": "I50"})


def test_fhir_resources_coding_models_are_accepted(terminology: Terminology) -> None:
    from fhir.resources.R4B.coding import Coding as FhirCoding

    coding = FhirCoding(system="http://loinc.org", code="718-7")
    assert terminology.contains("lab.haemoglobin", coding)


def test_first_match_returns_the_value_set_id_under_a_prefix(terminology: Terminology) -> None:
    codings = [{"system": "http://loinc.org", "code": "1234-5"}, {"system": LOCAL_SERVICE, "code": "home-help"}]
    assert terminology.first_match("municipal-service.", codings) == "municipal-service.home-help"
    assert terminology.first_match("signal.", codings) is None


def test_unknown_value_set_is_a_key_error(terminology: Terminology) -> None:
    with pytest.raises(KeyError, match="no-such-set"):
        terminology.contains("no-such-set", {"system": NO_ICD10, "code": "I50"})


def test_digest_is_stable_for_the_same_content(terminology: Terminology) -> None:
    assert Terminology.load(VALUESETS).digest == terminology.digest
    assert len(terminology.digest) == 64


def test_site_override_adds_codes_and_changes_the_digest(tmp_path: Path, terminology: Terminology) -> None:
    write(
        tmp_path / "site",
        "local.yaml",
        """
valuesets:
  - id: signal.suspected-delirium
    title: Delirium (site codes)
    source: "Haukeland local code list"
    include:
      - system: urn:oid:2.16.578.1.12.4.1.1.9999
        codes: [{code: DEL-1}]
""",
    )
    merged = Terminology.load(VALUESETS, tmp_path / "site")
    assert merged.contains("signal.suspected-delirium", {"system": "urn:oid:2.16.578.1.12.4.1.1.9999", "code": "DEL-1"})
    assert merged.contains("signal.suspected-delirium", {"system": NO_ICD10, "code": "F05.1"})
    assert merged.digest != terminology.digest


def test_override_adds_lab_units(tmp_path: Path) -> None:
    write(
        tmp_path / "site",
        "labs.yaml",
        """
labs:
  - id: lab.sodium
    title: Sodium
    source: site
    canonical_unit: mmol/L
    include: [{system: http://lab.example/codes, codes: [{code: NA}]}]
    units: [{unit: mmol/L, factor: 1.0}, {unit: "mmol/dL", factor: 10.0}]
""",
    )
    merged = Terminology.load(VALUESETS, tmp_path / "site")
    assert merged.lab("lab.sodium").to_canonical(13.2, "mmol/dL") == pytest.approx(132.0)
    assert merged.lab("lab.sodium").to_canonical(132, "mmol/L") == 132


def test_duplicate_value_set_in_one_directory_names_both_files(tmp_path: Path) -> None:
    body = "valuesets:\n  - {id: a.b, title: T, source: S, include: [{system: x, codes: [{code: '1'}]}]}\n"
    write(tmp_path, "one.yaml", body)
    write(tmp_path, "two.yaml", body)
    with pytest.raises(TerminologyError, match=r"two\.yaml:2: value set 'a\.b' is defined twice"):
        Terminology.load(tmp_path)


def test_schema_error_reports_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad.yaml",
        """valuesets:
  - id: a.b
    title: T
    source: S
    include:
      - system: x
        codes:
          - {code: "1", colour: red}
""",
    )
    with pytest.raises(TerminologyError) as caught:
        Terminology.load(tmp_path)
    assert caught.value.errors[0].startswith(f"{tmp_path / 'bad.yaml'}:8:")
    assert "colour" in caught.value.errors[0]


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "valuesets:\n  - {id: a.b, title: T, include: [{system: x, codes: [{code: '1'}]}]}\n")
    with pytest.raises(TerminologyError, match="source"):
        Terminology.load(tmp_path)


def test_yaml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.yaml", "valuesets:\n  - id: a\n    title: [unclosed\n")
    with pytest.raises(TerminologyError, match=r"broken\.yaml:\d+: YAML syntax error"):
        Terminology.load(tmp_path)


def test_bare_star_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "star.yaml",
        "valuesets:\n  - {id: a.b, title: T, source: S, include: [{system: x, codes: [{code: '*'}]}]}\n",
    )
    with pytest.raises(TerminologyError, match="bare"):
        Terminology.load(tmp_path)


def test_lab_without_canonical_unit_conversion_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "lab.yaml",
        "labs:\n  - {id: lab.x, title: X, source: S, canonical_unit: g/L, include: [{system: x, codes: [{code: '1'}]}],"
        " units: [{unit: mg/L, factor: 0.001}]}\n",
    )
    with pytest.raises(TerminologyError, match="canonical unit"):
        Terminology.load(tmp_path)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TerminologyError, match="not found"):
        Terminology.load(tmp_path / "nope")


def test_every_shipped_value_set_names_its_source(terminology: Terminology) -> None:
    assert all(terminology.sources(v) and all(terminology.sources(v)) for v in terminology.valueset_ids())
