"""ResourceSet: parsing FHIR R4 JSON with the R4B models, never failing on bad input."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.encounter import Encounter

from cds.fhir.resources import ResourceSet, clear_parse_cache

PATIENT = {"resourceType": "Patient", "id": "kari", "gender": "female", "birthDate": "1942-03-14"}
ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "in-progress",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    "subject": {"reference": "Patient/kari"},
}
BAD_OBSERVATION = {
    "resourceType": "Observation",
    "id": "obs-bad",
    "status": "final",
    "code": {"text": "Hb"},
    "effectiveDateTime": "secret-value-1942",
}


def searchset(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": f"https://fhir.example/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def test_encounter_class_parses_as_r4_not_r5() -> None:
    rs = ResourceSet.from_json([ENCOUNTER])
    enc = rs.get("Encounter", "enc-1")
    assert isinstance(enc, Encounter)
    assert enc.class_fhir.code == "IMP"
    assert rs.issues == []


def test_invalid_resource_is_reported_and_left_out_without_raising() -> None:
    rs = ResourceSet.from_json([PATIENT, BAD_OBSERVATION])
    assert rs.of_type("Observation") == []
    assert len(rs.issues) == 1
    issue = rs.issues[0]
    assert (issue.resource_type, issue.id) == ("Observation", "obs-bad")
    assert "effectiveDateTime" in issue.message


def test_issue_message_never_contains_the_resource_content() -> None:
    rs = ResourceSet.from_json([BAD_OBSERVATION])
    assert "secret-value" not in rs.issues[0].message


def test_invalid_resource_is_reported_again_when_served_from_the_cache() -> None:
    ResourceSet.from_json([BAD_OBSERVATION])
    again = ResourceSet.from_json([BAD_OBSERVATION])
    assert len(again.issues) == 1


def test_cached_parse_gives_an_equal_model() -> None:
    clear_parse_cache()
    first = ResourceSet.from_json([PATIENT]).get("Patient", "kari")
    second = ResourceSet.from_json([PATIENT]).get("Patient", "kari")
    assert first == second


def test_unknown_and_unread_resource_types_are_ignored_and_counted() -> None:
    rs = ResourceSet.from_json(
        [{"resourceType": "NotAResource", "id": "x"}, {"resourceType": "Immunization", "id": "i"}]
    )
    assert len(rs) == 0
    assert rs.issues == []
    assert rs.ignored == {"NotAResource": 1, "Immunization": 1}


@pytest.mark.parametrize("item", [None, 42, "Patient/1", ["a"]])
def test_non_object_input_is_an_issue(item: object) -> None:
    rs = ResourceSet.from_json([item])
    assert len(rs.issues) == 1
    assert "not a JSON object" in rs.issues[0].message


def test_missing_resource_type_is_an_issue() -> None:
    rs = ResourceSet.from_json([{"id": "x"}])
    assert rs.issues[0].message == "missing resourceType"


def test_searchset_bundle_entries_are_followed() -> None:
    rs = ResourceSet.from_bundle(searchset(PATIENT, ENCOUNTER))
    assert rs.resource_types() == ["Encounter", "Patient"]


def test_nested_bundles_in_a_prefetch_list_are_followed() -> None:
    outer = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": searchset(ENCOUNTER)}]}
    rs = ResourceSet.from_json([PATIENT, outer])
    assert rs.get("Encounter", "enc-1") is not None


def test_search_outcome_and_deleted_entries_are_skipped() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": PATIENT, "request": {"method": "DELETE", "url": "Patient/kari"}},
            {"resource": ENCOUNTER, "search": {"mode": "outcome"}},
        ],
    }
    rs = ResourceSet.from_bundle(bundle)
    assert len(rs) == 0


def test_bundle_with_malformed_entry_list_is_an_issue() -> None:
    rs = ResourceSet.from_bundle({"resourceType": "Bundle", "type": "searchset", "entry": {"resource": PATIENT}})
    assert "Bundle.entry" in rs.issues[0].message


def test_resolve_relative_absolute_and_versioned_references() -> None:
    rs = ResourceSet.from_bundle(searchset(ENCOUNTER))
    assert rs.resolve("Encounter/enc-1") is rs.get("Encounter", "enc-1")
    assert rs.resolve("https://other.example/fhir/Encounter/enc-1") is not None
    assert rs.resolve("Encounter/enc-1/_history/3") is not None
    assert rs.resolve("Encounter/nope") is None
    assert rs.resolve("") is None


def test_resolve_urn_uuid_full_url_and_reference_objects() -> None:
    enc = dict(ENCOUNTER)
    del enc["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"fullUrl": "urn:uuid:8f0c", "resource": enc, "request": {"method": "POST", "url": "Encounter"}}],
    }
    rs = ResourceSet.from_bundle(bundle)
    assert rs.resolve("urn:uuid:8f0c") is not None
    condition = ResourceSet.from_json(
        [
            {
                "resourceType": "Condition",
                "id": "c",
                "subject": {"reference": "Patient/kari"},
                "encounter": {"reference": "urn:uuid:8f0c"},
            }
        ]
    ).get("Condition", "c")
    assert rs.resolve(condition.encounter) is not None


def test_the_same_resource_through_two_prefetch_keys_is_kept_once() -> None:
    rs = ResourceSet.from_json([ENCOUNTER, searchset(ENCOUNTER)])
    assert len(rs.of_type("Encounter")) == 1


def test_ndjson_lines_are_parsed_and_bad_lines_reported() -> None:
    import json

    rs = ResourceSet.from_ndjson([json.dumps(PATIENT), "", "{not json"])
    assert rs.get("Patient", "kari") is not None
    assert rs.issues[0].message == "NDJSON line 3 is not valid JSON"


def test_restricting_types_to_non_fhir_names_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Potato"):
        ResourceSet(types=["Patient", "Potato"])


def test_of_type_returns_a_copy() -> None:
    rs = ResourceSet.from_json([PATIENT])
    rs.of_type("Patient").clear()
    assert len(rs.of_type("Patient")) == 1


def test_empty_searchset_records_its_searched_type_from_the_self_link() -> None:
    empty = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 0,
        "link": [{"relation": "self", "url": "https://fhir.example/fhir/Procedure?patient=kari"}],
    }
    rs = ResourceSet.from_json([empty])
    assert rs.searched == {"Procedure"}


def test_searchset_without_self_link_records_nothing() -> None:
    rs = ResourceSet.from_json([{"resourceType": "Bundle", "type": "searchset", "total": 0}])
    assert rs.searched == set()
