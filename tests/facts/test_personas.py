"""The persona bundles: they parse cleanly and their snapshots hold the facts their stories need."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cds.facts import build_snapshot
from cds.facts.snapshot import EncounterClass, PatientSnapshot, ServiceNeed
from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceIssue, ResourceSet
from cds.hooks.models import HookRequest
from cds.terminology import Terminology

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "fhir_examples"
INDEX = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
BY_KEY = {row["key"]: row for row in INDEX}


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return Terminology.load(REPO / "rules" / "valuesets")


def snapshot(key: str, terminology: Terminology, issues: list[ResourceIssue] | None = None) -> PatientSnapshot:
    row = BY_KEY[key]
    bundle = json.loads((EXAMPLES / row["bundle"]).read_text(encoding="utf-8"))
    return build_snapshot(
        ResourceSet.from_bundle(bundle),
        patient_id=row["patient_id"],
        encounter_id=row["encounter_id"],
        now=datetime.fromisoformat(row["now"]),
        terminology=terminology,
        patient_key=f"key-{key}",
        searched=ENGINE_RESOURCE_TYPES,
        issues=issues,
    )


def test_there_are_at_least_ten_personas() -> None:
    assert len(INDEX) >= 10


@pytest.mark.parametrize("key", sorted(BY_KEY))
def test_bundle_parses_and_builds_without_issues(key: str, terminology: Terminology) -> None:
    bundle = json.loads((EXAMPLES / BY_KEY[key]["bundle"]).read_text(encoding="utf-8"))
    resources = ResourceSet.from_bundle(bundle)
    issues: list[ResourceIssue] = []
    snapshot(key, terminology, issues)
    assert resources.issues == []
    assert issues == []
    assert len(resources) + sum(resources.ignored.values()) == len(bundle["entry"])


@pytest.mark.parametrize(("key", "request_file"), [(row["key"], f) for row in INDEX for f in row["requests"].values()])
def test_request_is_a_valid_cds_hooks_request_with_all_prefetch_keys(key: str, request_file: str) -> None:
    body: dict[str, Any] = json.loads((EXAMPLES / request_file).read_text(encoding="utf-8"))
    request = HookRequest.model_validate(body)
    assert request.context["patientId"] == BY_KEY[key]["patient_id"]
    expected = {
        "patient",
        "encounters",
        "conditions",
        "observations",
        "procedures",
        "medicationStatements",
        "medicationRequests",
        "episodesOfCare",
        "serviceRequests",
        "appointments",
        "communications",
        "careTeams",
        "carePlans",
        "documentReferences",
        "flags",
        "tasks",
    }
    assert expected <= set(body["prefetch"])
    resources = ResourceSet.from_json(body["prefetch"].values())
    assert resources.issues == []
    assert resources.get("Patient", BY_KEY[key]["patient_id"]) is not None


def test_generator_output_is_up_to_date(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_examples", EXAMPLES / "build_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path)
    for produced in tmp_path.rglob("*"):
        if produced.is_file():
            committed = EXAMPLES / produced.relative_to(tmp_path)
            assert committed.read_bytes() == produced.read_bytes(), f"{committed} is stale: rerun build_examples.py"


def test_fodselsnummer_is_synthetic_with_valid_control_digits() -> None:
    for row in INDEX:
        patient = json.loads((EXAMPLES / row["bundle"]).read_text(encoding="utf-8"))["entry"][0]["resource"]
        fnr = patient["identifier"][0]["value"]
        assert patient["identifier"][0]["system"] == "urn:oid:2.16.578.1.12.4.1.4.1"
        assert int(fnr[2:4]) > 80  # month + 80
        digits = [int(c) for c in fnr]
        k1 = (11 - sum(w * d for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), digits, strict=False)) % 11) % 11
        k2 = (11 - sum(w * d for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), digits, strict=False)) % 11) % 11
        assert (k1, k2) == (digits[9], digits[10])


def test_ingrid_a_is_realistic_size_for_the_benchmark() -> None:
    assert 180 <= BY_KEY["a"]["resources"] <= 230


def test_ingrid_a_frail_living_alone_with_increased_needs_and_repeated_admissions(terminology: Terminology) -> None:
    s = snapshot("a", terminology)
    assert (s.age, s.sex, s.municipality) == (84, "female", "4601")
    assert s.cfs is not None and s.cfs.score == 6 and s.cfs.source == "hospital"
    assert s.lives_alone is True and s.home_dwelling is True
    assert s.home_nursing is True
    assert s.service_need is ServiceNeed.increased
    assert s.has_coordinator is False and s.individual_plan == "none"
    assert s.admissions is not None and len([a for a in s.admissions if (s.now - a.start).days <= 365]) == 3
    assert s.admission_emergent is True and s.length_of_stay_days == 7
    chronic = {v for c in s.conditions or () for v in terminology.memberships(c.codings[0]) if v.startswith("chronic.")}
    assert {"chronic.heart-failure", "chronic.copd"} <= chronic
    assert s.ready_for_discharge is not None and s.tentative_discharge_date is not None


def test_arne_b_has_no_cfs_and_no_gp_notice(terminology: Terminology) -> None:
    s = snapshot("b", terminology)
    assert s.age == 72 and s.cfs is None
    assert s.admission_emergent is True and s.encounter_class is EncounterClass.inpatient
    assert s.gp_notified is False
    assert s.service_need is None  # no discharge plan yet at admission


def test_solveig_c_is_terminally_ill_with_metastatic_cancer(terminology: Terminology) -> None:
    s = snapshot("c", terminology)
    assert s.age == 91 and s.cfs is not None and s.cfs.score == 9
    assert s.end_of_life_signs is True
    assert s.oncology_discharge is True
    assert any(terminology.contains_any("cancer.metastatic", c.codings) for c in s.conditions or ())


def test_per_d_cfs_8_with_signs_of_end_of_life_from_a_nursing_home(terminology: Terminology) -> None:
    s = snapshot("d", terminology)
    assert s.cfs is not None and s.cfs.score == 8
    assert s.end_of_life_signs is True
    assert s.home_dwelling is False and s.discharge_destination == "nursing-home"


def test_marit_e_in_the_ed_meets_geriatric_selection_facts(terminology: Terminology) -> None:
    s = snapshot("e", terminology)
    assert s.encounter_class is EncounterClass.emergency
    assert s.cfs is not None and s.cfs.score == 5
    assert s.home_dwelling is True and s.expected_to_live_at_home is True
    assert s.new_falls is True and s.suspected_delirium is True
    assert s.acute_functional_decline is None


def test_knut_f_has_unchanged_home_help(terminology: Terminology) -> None:
    s = snapshot("f", terminology)
    assert s.municipal_services_before == ("home-help",) == s.municipal_services_after
    assert s.service_need is ServiceNeed.unchanged
    assert s.gp_follow_up_within_days == 10


def test_bjorn_g_fit_elective_without_services(terminology: Terminology) -> None:
    s = snapshot("g", terminology)
    assert s.cfs is not None and s.cfs.score == 3
    assert s.admission_emergent is False
    assert s.service_need is ServiceNeed.none
    assert s.procedures and any(p.in_current_encounter for p in s.procedures)


def test_lise_h_is_under_65_with_cfs_5(terminology: Terminology) -> None:
    s = snapshot("h", terminology)
    assert s.age == 60 and s.cfs is not None and s.cfs.score == 5


def test_gunnar_i_has_every_discharge_safety_gap(terminology: Terminology) -> None:
    s = snapshot("i", terminology)
    assert s.active_medication_count == 9
    assert s.medication_reconciled is False
    assert s.last_medication_review is not None and (s.now.date() - s.last_medication_review).days > 365
    assert s.follow_up_booked is False and s.gp_follow_up_within_days is None
    assert s.home_nursing is True
    low_hb = [lab for lab in s.labs or () if lab.concept == "haemoglobin" and lab.value is not None and lab.value < 12]
    assert low_hb and low_hb[-1].followed_up is False and low_hb[-1].in_current_encounter


def test_astrid_j_has_a_stale_cfs_and_three_readmissions_from_home(terminology: Terminology) -> None:
    s = snapshot("j", terminology)
    assert s.cfs is None  # stale: outside the CFS table's validity window, unknown for every rule
    assert s.cfs_latest is not None and s.cfs_latest.score == 4
    assert s.cfs_age_days is not None and s.cfs_age_days > 700
    home = [a for a in s.admissions or () if a.discharge_destination == "home" and (s.now - a.start).days <= 365]
    assert len(home) == 3 and all(a.emergency for a in home)
