"""`cds score`: scores from a FHIR Bundle, text and JSON output, one-line errors.

Persona: Kari Nordmann, 84, admitted as an emergency with heart failure (COPD known since 2024),
discharged from cardiology after 8 days with Hb 7.0 mmol/L and sodium 133 mmol/L, an echocardiography, three ED
visits and two admissions in the last half-year.

By hand (now = 2026-11-22 14:00+01:00, admitted 2026-11-14 10:00+01:00):
  LACE      L 8 d = 5, A emergent = 3, C heart failure 2 + COPD 2 = 4 -> 5, E 3 -> 3       = 16 high
  HOSPITAL  H 7.0 mmol/L = 11.28 g/dL < 12 -> 1, O 0, S 133 -> 1, P 1, IT 1, A 2 -> 2, L 2 = 8 high
  simplified HOSPITAL  1 + 0 + 1 + 1 + 2 + 2                                           = 7 high
  HFRS      I50 and J44 are not HFRS categories; R29.6 (falls) 3.6 + N39.0 3.2         = 6.8 intermediate
  Charlson  heart failure 2 + COPD 1                                                    = 3
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cds.cli.score import register

NOW = "2026-11-22T14:00:00+01:00"
NO_ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def encounter(eid: str, cls: str, start: str, end: str, *, priority: str | None = None) -> dict:
    resource = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished" if eid != "enc-kari" else "in-progress",
        "class": {"system": ACT, "code": cls},
        "subject": {"reference": "Patient/kari"},
        "period": {"start": start, "end": end},
    }
    if eid == "enc-kari":
        resource["serviceType"] = {"coding": [{"system": "http://snomed.info/sct", "code": "394579002", "display": "Cardiology"}]}
    if priority:
        resource["priority"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": priority}]}
    return resource


def condition(cid: str, code: str, *, recorded: str, encounter_id: str | None = None, category: str = "encounter-diagnosis") -> dict:
    resource = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": category}]}],
        "code": {"coding": [{"system": NO_ICD10, "code": code}]},
        "subject": {"reference": "Patient/kari"},
        "recordedDate": recorded,
    }
    if encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return resource


def lab(oid: str, loinc: str, value: float, unit: str, at: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/kari"},
        "encounter": {"reference": "Encounter/enc-kari"},
        "effectiveDateTime": at,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def kari_bundle() -> dict:
    resources = [
        {"resourceType": "Patient", "id": "kari", "gender": "female", "birthDate": "1942-03-05"},
        encounter("enc-kari", "IMP", "2026-11-14T10:00:00+01:00", "2026-11-22T12:00:00+01:00", priority="EM"),
        encounter("ed-1", "EMER", "2026-10-20T18:00:00+02:00", "2026-10-20T23:00:00+02:00"),
        encounter("ed-2", "EMER", "2026-08-02T09:00:00+02:00", "2026-08-02T14:00:00+02:00"),
        encounter("ed-3", "EMER", "2026-06-10T20:00:00+02:00", "2026-06-11T01:00:00+02:00"),
        encounter("adm-1", "IMP", "2026-08-02T14:00:00+02:00", "2026-08-06T12:00:00+02:00"),
        encounter("adm-2", "IMP", "2026-06-11T01:00:00+02:00", "2026-06-15T12:00:00+02:00"),
        condition("dx-hf", "I50.0", recorded="2026-11-14", encounter_id="enc-kari"),
        condition("dx-falls", "R29.6", recorded="2026-11-14", encounter_id="enc-kari"),
        condition("dx-uti", "N39.0", recorded="2026-08-02", encounter_id="adm-1"),
        condition("dx-copd", "J44.1", recorded="2024-01-15", category="problem-list-item"),
        lab("hb-1", "718-7", 13.0, "g/dL", "2026-11-14T11:00:00+01:00"),
        {**lab("hb-2", "718-7", 7.0, "mmol/L", "2026-11-22T07:30:00+01:00")},
        lab("na-1", "2951-2", 133, "mmol/L", "2026-11-22T07:30:00+01:00"),
        {
            "resourceType": "Procedure",
            "id": "proc-echo",
            "status": "completed",
            "code": {"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.7275", "code": "FYDE10"}]},
            "subject": {"reference": "Patient/kari"},
            "encounter": {"reference": "Encounter/enc-kari"},
            "performedDateTime": "2026-11-15T10:00:00+01:00",
        },
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "kari.json"
    path.write_text(json.dumps(kari_bundle()), encoding="utf-8")
    return path


@pytest.fixture
def runner_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep `score` a subcommand
        pass

    return app


def run_json(runner_app: typer.Typer, bundle: Path) -> dict:
    result = CliRunner().invoke(
        runner_app, ["score", "--patient", "kari", "--encounter", "enc-kari", "--now", NOW, str(bundle), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_has_every_score(runner_app, bundle) -> None:
    assert set(run_json(runner_app, bundle)) == {"lace", "hospital", "hospital_simplified", "hfrs", "charlson"}


def test_kari_lace_matches_the_hand_calculation(runner_app, bundle) -> None:
    lace = run_json(runner_app, bundle)["lace"]
    assert [i["points"] for i in lace["items"]] == [5, 3, 5, 3]
    assert (lace["points"], lace["band"]) == (16, "high")


def test_kari_hospital_matches_the_hand_calculation(runner_app, bundle) -> None:
    hospital = run_json(runner_app, bundle)["hospital"]
    assert {i["name"]: i["points"] for i in hospital["items"]} == {
        "haemoglobin": 1, "oncology": 0, "sodium": 1, "procedure": 1,
        "index_admission_type": 1, "admissions": 2, "length_of_stay": 2,
    }
    assert (hospital["points"], hospital["band"]) == (8, "high")


def test_kari_haemoglobin_in_mmol_l_is_converted_to_g_dl(runner_app, bundle) -> None:
    hb = next(i for i in run_json(runner_app, bundle)["hospital"]["items"] if i["name"] == "haemoglobin")
    assert hb["value"] == pytest.approx(11.28, abs=0.01)


def test_kari_simplified_hospital_matches_the_hand_calculation(runner_app, bundle) -> None:
    simple = run_json(runner_app, bundle)["hospital_simplified"]
    assert (simple["points"], simple["band"]) == (7, "high")


def test_kari_hfrs_matches_the_hand_calculation(runner_app, bundle) -> None:
    hfrs = run_json(runner_app, bundle)["hfrs"]
    assert sorted(i["name"] for i in hfrs["items"]) == ["N39", "R29"]
    assert (hfrs["points"], hfrs["band"], hfrs["applicable"]) == (6.8, "intermediate", True)


def test_kari_charlson_matches_the_hand_calculation(runner_app, bundle) -> None:
    assert run_json(runner_app, bundle)["charlson"]["points"] == 3


def test_text_output_lists_items_with_points_and_values(runner_app, bundle) -> None:
    result = CliRunner().invoke(runner_app, ["score", "--patient", "kari", "--encounter", "enc-kari", "--now", NOW, str(bundle)])
    assert result.exit_code == 0, result.output
    assert "LACE  16  band high" in result.output
    assert "haemoglobin" in result.output and "reported 7 mmol/L" in result.output


def _cds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cds.cli import main; main()", *args], capture_output=True, text=True, check=False
    )


def test_unknown_patient_is_a_one_line_error(bundle) -> None:
    done = _cds("score", "--patient", "nobody", "--now", NOW, str(bundle))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no Patient with id 'nobody'" in done.stderr


def test_missing_file_is_a_one_line_error(tmp_path) -> None:
    done = _cds("score", "--patient", "kari", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "no such file" in done.stderr


def test_bad_now_is_a_one_line_error(bundle) -> None:
    done = _cds("score", "--patient", "kari", "--now", "yesterday", str(bundle))
    assert done.returncode == 2 and "ISO 8601" in done.stderr


def test_ndjson_input_gives_the_same_scores(runner_app, tmp_path) -> None:
    path = tmp_path / "kari.ndjson"
    path.write_text("\n".join(json.dumps(e["resource"]) for e in kari_bundle()["entry"]), encoding="utf-8")
    assert run_json(runner_app, path)["lace"]["points"] == 16


def test_invalid_json_is_a_one_line_error(tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    done = _cds("score", "--patient", "kari", str(path))
    assert done.returncode == 2 and "not valid JSON" in done.stderr and "Traceback" not in done.stderr
