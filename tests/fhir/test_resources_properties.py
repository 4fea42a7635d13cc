"""ResourceSet never raises on odd input and matches the plain one-by-one algorithm (property-based)."""

from __future__ import annotations

from collections import Counter

from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds.fhir.resources import (
    ENGINE_RESOURCE_TYPES,
    SUPPORTING_RESOURCE_TYPES,
    ResourceIssue,
    ResourceSet,
    clear_parse_cache,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
resource_like = st.builds(
    lambda rtype, rid, body: {**body, "resourceType": rtype, **({"id": rid} if rid is not None else {})},
    st.sampled_from([*ENGINE_RESOURCE_TYPES, "Bundle", "Unknown", ""]),
    st.none() | st.text(max_size=10),
    st.dictionaries(
        st.sampled_from(["status", "code", "subject", "entry", "period", "valueQuantity", "class"]),
        json_values,
        max_size=4,
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(resource_like | json_values, max_size=6))
def test_any_json_input_gives_a_resource_set_without_raising(items: list[object]) -> None:
    rs = ResourceSet.from_json(items)
    assert len(rs) + len(rs.issues) + sum(rs.ignored.values()) >= 0
    for issue in rs.issues:
        assert len(issue.message) <= 300


# -- the cached, bulk-adding ResourceSet behaves like the plain one-by-one walk ------------------


class ReferenceSet:
    """The straightforward algorithm (no caches, resources added one at a time), as the specification."""

    def __init__(self) -> None:
        self.types = frozenset(ENGINE_RESOURCE_TYPES + SUPPORTING_RESOURCE_TYPES)
        self.resources: list[tuple[str, object]] = []
        self.by_id: dict[tuple[str, str], object] = {}
        self.by_full_url: dict[str, object] = {}
        self.issues: list[ResourceIssue] = []
        self.ignored: Counter[str] = Counter()
        self.searched: set[str] = set()

    def add(self, item: object, full_url: str | None = None) -> None:
        if not isinstance(item, dict):
            self.issues.append(ResourceIssue(None, None, f"not a JSON object but {type(item).__name__}"))
            return
        rtype, raw_id = item.get("resourceType"), item.get("id")
        rid = raw_id if isinstance(raw_id, str) else None
        if not isinstance(rtype, str) or not rtype:
            self.issues.append(ResourceIssue(None, rid, "missing resourceType"))
        elif rtype == "Bundle":
            self.add_bundle(item)
        elif rtype not in self.types:
            self.ignored[rtype] += 1
        elif rid is None or (rtype, rid) not in self.by_id:
            try:
                model = get_fhir_model_class(rtype).model_validate(item)
            except (ValidationError, TypeError, ValueError):
                self.issues.append(ResourceIssue(rtype, rid, "(invalid)"))
                return
            self.resources.append((rtype, model))
            if rid is not None:
                self.by_id[(rtype, rid)] = model
            if full_url:
                self.by_full_url[full_url] = model

    def add_bundle(self, bundle: dict) -> None:
        if bundle.get("type") == "searchset":
            for link in bundle.get("link") or ():
                if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str):
                    candidate = link["url"].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                    if candidate in ENGINE_RESOURCE_TYPES:
                        self.searched.add(candidate)
                        break
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            self.issues.append(ResourceIssue("Bundle", None, "Bundle.entry is not a list"))
            return
        for entry in entries:
            if not isinstance(entry, dict):
                self.issues.append(ResourceIssue("Bundle", None, "Bundle entry is not an object"))
            elif entry.get("resource") is not None:
                full_url = entry.get("fullUrl")
                self.add(entry["resource"], full_url if isinstance(full_url, str) else None)


def _observation(oid: str, value: float) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "Hb"},
            "valueQuantity": {"value": value}}


_POOL = [
    {"resourceType": "Patient", "id": "p", "gender": "female"},
    {"resourceType": "Patient", "id": "p", "gender": "male"},
    {"resourceType": "Patient", "gender": "other"},
    _observation("o1", 1.0),
    _observation("o1", 2.0),
    _observation("o2", 3.0),
    {"resourceType": "Observation", "id": "o1", "status": "final", "effectiveDateTime": "not-a-date"},
    {"resourceType": "Observation", "id": "o3", "status": "no-code"},
    {"resourceType": "Immunization", "id": "i"},
    {"resourceType": "NotAType", "id": "n"},
    {"id": "no-type"},
    "not an object",
]
_leaf = st.sampled_from(_POOL)


def _bundle(entries: list, searched: str | None, full_urls: bool) -> dict:
    bundle: dict = {"resourceType": "Bundle", "type": "searchset" if searched else "collection", "entry": [
        ({"fullUrl": f"urn:uuid:{n}", "resource": e} if full_urls else {"resource": e}) for n, e in enumerate(entries)
    ]}
    if searched:
        bundle["link"] = [{"relation": "self", "url": f"https://fhir.example/{searched}?patient=p"}]
    return bundle


_values = st.recursive(
    _leaf,
    lambda inner: st.builds(
        _bundle, st.lists(inner, max_size=5), st.none() | st.sampled_from(["Observation", "Flag"]), st.booleans()
    ),
    max_leaves=8,
)


def _outcome(rs: ResourceSet | ReferenceSet) -> tuple:
    if isinstance(rs, ResourceSet):
        resources = [(type(m).__name__, m) for m in rs]
        by_full_url = {f"urn:uuid:{n}": rs.resolve(f"urn:uuid:{n}") for n in range(5)}
        ids = {(t, i): rs.get(t, i) for t in ("Patient", "Observation") for i in ("p", "o1", "o2", "o3")}
    else:
        by_type: dict[str, list] = {}
        for rtype, model in rs.resources:
            by_type.setdefault(rtype, []).append(model)
        resources = [(t, m) for t, models in by_type.items() for m in models]
        by_full_url = {f"urn:uuid:{n}": rs.by_full_url.get(f"urn:uuid:{n}") for n in range(5)}
        ids = {(t, i): rs.by_id.get((t, i)) for t in ("Patient", "Observation") for i in ("p", "o1", "o2", "o3")}
    issues = [(i.resource_type, i.id) for i in rs.issues]
    return resources, by_full_url, ids, issues, list(rs.ignored.items()), rs.searched


@settings(max_examples=150, deadline=None)
@given(st.lists(_values, max_size=5), st.booleans())
def test_cached_parsing_gives_what_adding_one_by_one_gives(values: list, cold: bool) -> None:
    if cold:
        clear_parse_cache()
    reference = ReferenceSet()
    for value in values:
        reference.add(value)
    assert _outcome(ResourceSet.from_json(values)) == _outcome(reference)
    assert _outcome(ResourceSet.from_json(values)) == _outcome(reference)  # now from the caches
