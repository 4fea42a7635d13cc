"""The parse caches of ResourceSet: right answers when content differs, bounded, shared models when it does not."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator

import orjson
import pytest

from cds.fhir import resources
from cds.fhir.resources import ResourceSet, clear_parse_cache

PATIENT = {"resourceType": "Patient", "id": "kari", "gender": "female", "birthDate": "1942-03-14"}
INVALID_OBSERVATION = {"resourceType": "Observation", "id": "o-bad", "status": "final", "effectiveDateTime": "x"}


def observation(n: int, value: float = 7.0) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"o{n}",
        "status": "final",
        "code": {"text": "Hb"},
        "subject": {"reference": "Patient/kari"},
        "valueQuantity": {"value": value, "unit": "mmol/L"},
    }


def searchset(*entries: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": "https://fhir.example/Observation?patient=kari"}],
        "entry": [{"fullUrl": f"https://fhir.example/{r['resourceType']}/{r['id']}", "resource": r} for r in entries],
    }


@pytest.fixture(autouse=True)
def cold() -> Iterator[None]:
    clear_parse_cache()
    yield
    clear_parse_cache()


def test_a_bundle_seen_again_gives_the_same_models_issues_and_searched_types() -> None:
    bundle = searchset(PATIENT, observation(1), INVALID_OBSERVATION)
    first = ResourceSet.from_json([bundle])
    again = ResourceSet.from_json([copy.deepcopy(bundle)])
    assert again.get("Observation", "o1") is first.get("Observation", "o1")
    assert again.issues == first.issues and len(again.issues) == 1
    assert again.searched == first.searched == {"Observation"}
    assert again.resolve("https://fhir.example/Observation/o1") is first.get("Observation", "o1")


def test_a_bundle_differing_in_one_resource_validates_only_that_one() -> None:
    ResourceSet.from_json([searchset(*(observation(n) for n in range(5)))])
    assert len(resources._RESOURCE_CACHE) == 5
    changed = ResourceSet.from_json([searchset(*(observation(n, 9.0 if n == 3 else 7.0) for n in range(5)))])
    assert len(resources._RESOURCE_CACHE) == 6  # one new validation, four reused
    assert [float(o.valueQuantity.value) for o in changed.of_type("Observation")] == [7.0, 7.0, 7.0, 9.0, 7.0]


def test_a_bundle_changed_in_place_is_parsed_again() -> None:
    bundle = searchset(observation(1))
    assert float(ResourceSet.from_json([bundle]).get("Observation", "o1").valueQuantity.value) == 7.0
    bundle["entry"][0]["resource"]["valueQuantity"]["value"] = 8.5
    assert float(ResourceSet.from_json([bundle]).get("Observation", "o1").valueQuantity.value) == 8.5


def test_numbers_of_different_json_types_are_different_content() -> None:
    as_int = ResourceSet.from_json([searchset(observation(1, 7))]).get("Observation", "o1")
    as_float = ResourceSet.from_json([searchset(observation(1, 7.0))]).get("Observation", "o1")
    assert as_int is not as_float


def test_a_checksum_collision_is_a_miss_not_a_wrong_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources.zlib, "crc32", lambda _data: 0)  # every Bundle collides
    low, high = searchset(observation(1, 7.5)), searchset(observation(1, 8.5))
    assert len(resources.orjson.dumps(low)) == len(resources.orjson.dumps(high))
    for bundle, value in ((low, 7.5), (high, 8.5), (low, 7.5)):
        assert float(ResourceSet.from_json([bundle]).get("Observation", "o1").valueQuantity.value) == value


def test_bundle_entries_are_kept_per_set_of_resource_types() -> None:
    bundle = searchset(PATIENT, observation(1))
    only_patients = ResourceSet.from_json([bundle], types=["Patient"])
    everything = ResourceSet.from_json([bundle])
    assert only_patients.ignored == {"Observation": 1} and len(only_patients) == 1
    assert everything.ignored == {} and len(everything) == 2


def test_a_cached_bundle_still_keeps_the_first_copy_of_a_resource_sent_twice() -> None:
    newer = PATIENT | {"gender": "male"}
    ResourceSet.from_json([searchset(newer)])
    rs = ResourceSet.from_json([PATIENT, searchset(newer), searchset(INVALID_OBSERVATION | {"id": "kari"})])
    assert rs.get("Patient", "kari").gender == "female"
    assert len(rs.of_type("Patient")) == 1


def test_concurrent_parsing_gives_the_same_answers() -> None:
    bundles = [searchset(PATIENT, observation(n), INVALID_OBSERVATION) for n in range(8)]
    expected = [ResourceSet.from_json([b]) for b in bundles]
    clear_parse_cache()
    failures: list[str] = []

    def work() -> None:
        for _ in range(20):
            for bundle, want in zip(bundles, expected, strict=True):
                got = ResourceSet.from_json([bundle])
                if list(got) != list(want) or got.issues != want.issues:
                    failures.append("differs")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_cache_is_bounded_by_entries_and_evicts_the_least_recently_used() -> None:
    cache: resources._LruCache[str, int] = resources._LruCache(max_entries=2, max_bytes=1000)
    cache.put("a", 1, 10)
    cache.put("b", 2, 10)
    assert cache.get("a") == 1  # now b is the oldest
    cache.put("c", 3, 10)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2 and cache.size_bytes == 20


def test_the_cache_is_bounded_by_content_size() -> None:
    cache: resources._LruCache[str, int] = resources._LruCache(max_entries=100, max_bytes=100)
    cache.put("a", 1, 40)
    cache.put("b", 2, 40)
    cache.put("c", 3, 40)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    cache.put("huge", 4, 101)
    assert cache.get("huge") is None and cache.size_bytes == 80
    cache.put("b", 5, 10)
    assert cache.get("b") == 5 and cache.size_bytes == 50
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_a_set_built_without_the_cache_parses_the_same_and_leaves_both_caches_empty() -> None:
    bundle = searchset(PATIENT, observation(1), INVALID_OBSERVATION)
    uncached = ResourceSet.from_json([bundle, observation(2)], cache=False)
    assert len(resources._RESOURCE_CACHE) == 0 and len(resources._BUNDLE_CACHE) == 0
    cached = ResourceSet.from_json([copy.deepcopy(bundle), observation(2)])
    for kind, rid in (("Patient", "kari"), ("Observation", "o1"), ("Observation", "o2")):
        assert uncached.get(kind, rid) == cached.get(kind, rid)
        assert uncached.get(kind, rid) is not cached.get(kind, rid)  # validated again, not shared
    assert uncached.issues == cached.issues and len(uncached.issues) == 1
    assert uncached.searched == cached.searched == {"Observation"}


def _bytes(value: dict) -> resources.JsonBytes:
    return resources.JsonBytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))


def test_json_bytes_give_the_same_set_as_the_value_they_hold() -> None:
    bundle = searchset(PATIENT, observation(1), INVALID_OBSERVATION)
    from_dict = ResourceSet.from_json([copy.deepcopy(bundle)])
    clear_parse_cache()
    from_bytes = ResourceSet.from_json([_bytes(bundle), _bytes(PATIENT)])
    assert [r.model_dump() for r in from_bytes] == [r.model_dump() for r in from_dict]
    assert from_bytes.issues == from_dict.issues and from_bytes.searched == from_dict.searched
    assert from_bytes.resolve("https://fhir.example/Observation/o1") is from_bytes.get("Observation", "o1")


def test_json_bytes_seen_before_are_neither_decoded_nor_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = searchset(PATIENT, observation(1), INVALID_OBSERVATION)
    first = ResourceSet.from_json([_bytes(bundle), _bytes(observation(2))])
    sent_again = [_bytes(bundle), _bytes(observation(2))]
    bundle_again = _bytes(bundle)

    def no_decoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(resources.orjson, "loads", no_decoding)
    monkeypatch.setattr(resources.orjson, "dumps", no_decoding)
    again = ResourceSet.from_json(sent_again)
    assert again.get("Observation", "o1") is first.get("Observation", "o1")
    assert again.get("Observation", "o2") is first.get("Observation", "o2")
    assert again.issues == first.issues and again.searched == {"Observation"}
    head = bundle_again.head()
    assert (head.type_name, head.resource_type, head.entry_is_list) == ("dict", "Bundle", True)


def test_json_bytes_differing_in_one_byte_are_a_different_value() -> None:
    ResourceSet.from_json([_bytes(observation(1, 7.0))])
    changed = ResourceSet.from_json([_bytes(observation(1, 8.0))])
    assert float(changed.get("Observation", "o1").valueQuantity.value) == 8.0


def test_json_bytes_that_are_not_json_are_an_issue_not_an_exception() -> None:
    rs = ResourceSet.from_json([resources.JsonBytes(b'{"resourceType": "Patient", "id": "\xff"}')])
    assert len(rs) == 0
    assert len(rs.issues) == 1 and rs.issues[0].message.startswith("not valid JSON")
    assert "\xff" not in rs.issues[0].message


def test_the_head_of_json_bytes_describes_values_that_are_not_resources() -> None:
    assert resources.JsonBytes(b"[1, 2]").head().type_name == "list"
    assert resources.JsonBytes(b'{"resourceType": "Bundle", "entry": {}}').head().entry_is_list is False
    with pytest.raises(ValueError):
        resources.JsonBytes(b'{"a": 1e400}').head()
