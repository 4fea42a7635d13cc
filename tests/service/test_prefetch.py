"""Prefetch resolution: absent -> fetch, null -> no fetch, OperationOutcome -> fetch; 412 when impossible."""

import asyncio

import pytest

from cds.fhir.client import FetchResult, FhirFetchError
from cds.fhir.prefetch import PrefetchInvalid, PrefetchUnavailable, render_template, resolve_prefetch

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    "conditions": "Condition?patient={{context.patientId}}",
}
CONTEXT = {"patientId": "ingrid", "encounterId": "stay-1", "userId": "Practitioner/dr-hansen"}
PATIENT = {"resourceType": "Patient", "id": "ingrid"}


class RecordingSource:
    def __init__(self, answers=None, fail=()):
        self.queries = []
        self.answers = answers or {}
        self.fail = set(fail)

    async def fetch(self, query):
        self.queries.append(query)
        if query in self.fail:
            raise FhirFetchError("the FHIR server answered HTTP 503")
        return FetchResult(list(self.answers.get(query, [])))


def resolve(prefetch, source=None, templates=TEMPLATES, context=CONTEXT):
    return asyncio.run(resolve_prefetch(templates, context, prefetch, source))


def test_absent_keys_are_fetched_from_the_source():
    source = RecordingSource({"Condition?patient=ingrid": [{"resourceType": "Condition", "id": "hf"}]})
    result = resolve({"patient": PATIENT, "encounter": None}, source)
    assert source.queries == ["Condition?patient=ingrid"]
    assert result.fetched == ["conditions"]
    assert {r["id"] for r in result.resources} == {"ingrid", "hf"}


def test_null_keys_are_not_fetched():
    source = RecordingSource()
    result = resolve({"patient": PATIENT, "encounter": None, "conditions": None}, source)
    assert source.queries == []
    assert result.null == ["encounter", "conditions"]


def test_operation_outcome_is_treated_as_absent_and_fetched():
    source = RecordingSource()
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    resolve({"patient": PATIENT, "encounter": None, "conditions": outcome}, source)
    assert source.queries == ["Condition?patient=ingrid"]


def test_present_prefetch_is_used_as_sent_and_not_refetched():
    source = RecordingSource()
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Condition"}}]}
    result = resolve({"patient": PATIENT, "encounter": None, "conditions": bundle}, source)
    assert source.queries == [] and result.provided == ["patient", "conditions"]


def test_absent_keys_without_a_source_are_unavailable_naming_them():
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve({"patient": PATIENT})
    assert caught.value.keys == ["conditions", "encounter"]


def test_a_failed_read_makes_the_key_unavailable():
    source = RecordingSource(fail={"Encounter/stay-1"})
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve({"patient": PATIENT, "conditions": None}, source)
    assert caught.value.keys == ["encounter"] and "HTTP 503" in caught.value.reason


def test_a_failed_search_is_incomplete_and_its_type_is_not_searched():
    source = RecordingSource(fail={"Condition?patient=ingrid"})
    result = resolve({"patient": PATIENT, "encounter": None}, source)
    assert result.incomplete == {"conditions": ("Condition", "failed")}
    assert "Condition" not in result.searched and result.fetched == []


def test_a_search_cut_short_is_incomplete_and_none_of_its_resources_are_used():
    class Truncating:
        async def fetch(self, query):
            return FetchResult([{"resourceType": "Condition", "id": "first-page"}], truncated=True)

    result = resolve({"patient": PATIENT, "encounter": None}, Truncating())
    assert result.incomplete == {"conditions": ("Condition", "truncated")}
    assert result.truncated == ["conditions"] and result.resources == [PATIENT]
    assert "Condition" not in result.searched


def test_a_template_needing_a_missing_context_field_is_skipped():
    context = {"patientId": "ingrid", "userId": "Practitioner/dr-hansen"}
    result = resolve({"patient": PATIENT, "conditions": None}, context=context)
    assert result.skipped == ["encounter"]


def test_values_that_are_not_fhir_are_invalid():
    with pytest.raises(PrefetchInvalid, match="prefetch.conditions"):
        resolve({"patient": PATIENT, "encounter": None, "conditions": [1]})


def test_context_values_are_url_encoded_in_queries():
    assert render_template("Condition?patient={{context.patientId}}", {"patientId": "a&b=c"}) == (
        "Condition?patient=a%26b%3Dc")


def test_user_practitioner_id_comes_from_the_user_reference():
    assert render_template("PractitionerRole?practitioner={{userPractitionerId}}",
                           {"userId": "Practitioner/dr-hansen"}) == "PractitionerRole?practitioner=dr-hansen"


def test_sent_null_and_fetched_searches_count_as_searched_so_none_can_be_concluded():
    source = RecordingSource()
    templates = TEMPLATES | {"careTeams": "CareTeam?patient={{context.patientId}}",
                             "flags": "Flag?patient={{context.patientId}}"}
    bundle = {"resourceType": "Bundle", "type": "searchset"}
    result = resolve({"patient": PATIENT, "encounter": None, "careTeams": None, "conditions": bundle}, source,
                     templates=templates)
    assert result.searched == {"CareTeam", "Condition", "Flag"}


def test_reads_do_not_count_as_searches():
    assert resolve({"patient": PATIENT, "encounter": None, "conditions": None}).searched == {"Condition"}


def test_fetching_that_takes_too_long_altogether_makes_the_reads_unavailable():
    class Slow:
        async def fetch(self, query):
            await asyncio.sleep(5)
            return FetchResult([])

    with pytest.raises(PrefetchUnavailable, match="did not answer within 0.05 s") as caught:
        asyncio.run(resolve_prefetch(TEMPLATES, CONTEXT, {"patient": PATIENT}, Slow(), total_timeout_seconds=0.05))
    assert caught.value.keys == ["encounter"]


def test_searches_not_answered_within_the_fetch_time_are_incomplete():
    class SlowSearches:
        async def fetch(self, query):
            if "?" in query:
                await asyncio.sleep(5)
            return FetchResult([{"resourceType": "Encounter", "id": "stay-1"}])

    result = asyncio.run(resolve_prefetch(TEMPLATES, CONTEXT, {"patient": PATIENT}, SlowSearches(),
                                          total_timeout_seconds=0.05))
    assert result.incomplete == {"conditions": ("Condition", "timeout")}
    assert result.fetched == ["encounter"]


def test_values_sent_as_bytes_are_checked_like_decoded_values():
    import orjson

    from cds.fhir.resources import JsonBytes

    for bad in ({"patient": {"resourceType": "Encounter", "id": "x"}}, {"patient": {"resourceType": "Patient",
                                                                                     "id": "someone-else"}},
                {"conditions": [1]}, {"conditions": {"resourceType": "Bundle", "entry": "x"}}):
        prefetch = {"patient": PATIENT, "encounter": None, "conditions": None} | bad
        with pytest.raises(PrefetchInvalid) as decoded:
            resolve(prefetch)
        as_bytes = {k: JsonBytes(orjson.dumps(v)) if v is not None else None for k, v in prefetch.items()}
        with pytest.raises(PrefetchInvalid) as raw:
            resolve(as_bytes)
        assert raw.value.messages == decoded.value.messages


def test_values_sent_as_bytes_are_passed_on_as_bytes():
    import orjson

    from cds.fhir.resources import JsonBytes

    patient = JsonBytes(orjson.dumps(PATIENT))
    result = resolve({"patient": patient, "encounter": None, "conditions": None})
    assert result.resources == [patient] and result.provided == ["patient"]
