"""The FHIR R4 resources available to one evaluation, parsed with ``fhir.resources.R4B``.

`ResourceSet` is built from plain JSON dicts (Bundle entries, CDS Hooks prefetch
values, NDJSON lines). It never raises on bad input: a resource that fails R4B
validation is left out and reported in ``issues`` (resource type, id and a short
message; never the resource content), resource types the engine does not read
are skipped and counted in ``ignored``.

Bundles (searchset, collection, transaction, batch, history, document and
their responses) are followed wherever they appear, including nested ones.

Performance: validating a resource with the R4B pydantic models costs about
0.1-0.2 ms (Python-level validators in ``fhir_core``), i.e. ~35 ms for a
realistic patient of 200 resources. Parsed models are therefore cached in a
bounded, thread-safe LRU keyed by the resource's exact JSON content (``orjson``
serialisation, ~1 us per resource): a resource seen before (the same stay
evaluated at encounter-start, patient-view and encounter-discharge, a batch
rerun, a benchmark) is not validated again, and invalid resources are cached
with their issue, so they are still reported every time. Two dicts with the same
content in a different key order are validated separately (correct, just
slower). Models from the cache are shared between calls: treat them as
read-only. See ``bench/bench_facts.py`` for the figures.

Example::

    >>> rs = ResourceSet.from_json([{"resourceType": "Patient", "id": "p1", "gender": "female"}])
    >>> rs.get("Patient", "p1").gender
    'female'
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

__all__ = [
    "ENGINE_RESOURCE_TYPES",
    "SUPPORTING_RESOURCE_TYPES",
    "ResourceIssue",
    "ResourceSet",
    "clear_parse_cache",
]

#: The resource types the fact builder reads (the service's prefetch templates fetch exactly these).
ENGINE_RESOURCE_TYPES: tuple[str, ...] = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "Procedure",
    "MedicationStatement",
    "MedicationRequest",
    "EpisodeOfCare",
    "ServiceRequest",
    "Appointment",
    "Communication",
    "CareTeam",
    "CarePlan",
    "DocumentReference",
    "Flag",
    "Task",
)

#: Types kept because engine resources refer to them (GP, medication codes, service providers).
SUPPORTING_RESOURCE_TYPES: tuple[str, ...] = ("Practitioner", "PractitionerRole", "Organization", "Medication")

_BUNDLE = "Bundle"
_MAX_ERRORS_PER_ISSUE = 3
_MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class ResourceIssue:
    """A resource that could not be used. Never carries the resource's content."""

    resource_type: str | None
    id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.resource_type or '?'}/{self.id or '?'}"
        return f"{where}: {self.message}"


class _ParseCache:
    """A bounded LRU of parse results keyed by a resource's exact JSON bytes."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, Resource | str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Resource | str | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: bytes, value: Resource | str) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _ParseCache(max_entries=50_000)


def clear_parse_cache() -> None:
    """Forget every cached parse result (tests and benchmarks measuring cold parsing)."""
    _CACHE.clear()


def _describe_validation_error(error: ValidationError) -> str:
    """'loc: message' for the first few errors; pydantic's input values are left out."""
    parts: list[str] = []
    errors = error.errors(include_input=False, include_url=False, include_context=False)
    for err in errors[:_MAX_ERRORS_PER_ISSUE]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "(resource)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    if len(errors) > _MAX_ERRORS_PER_ISSUE:
        parts.append(f"and {len(errors) - _MAX_ERRORS_PER_ISSUE} more")
    message = "invalid FHIR R4 " + "; ".join(parts)
    return message[:_MAX_MESSAGE_CHARS]


def _parse(resource_type: str, raw: Mapping[str, Any]) -> Resource | str:
    """Validate one resource with its R4B model; return the model or a short error message."""
    try:
        key = orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        key = None
    if key is not None:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    model_class = get_fhir_model_class(resource_type)
    result: Resource | str
    try:
        result = model_class.model_validate(raw)
    except ValidationError as error:
        result = _describe_validation_error(error)
    except (TypeError, ValueError) as error:  # fhir_core raises these for some malformed shapes
        result = f"invalid FHIR R4 {resource_type}: {type(error).__name__}"
    if key is not None:
        _CACHE.put(key, result)
    return result


def _is_fhir_type(resource_type: str) -> bool:
    try:
        get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError, ImportError):
        return False
    return True


def _split_reference(reference: str) -> tuple[str, str] | None:
    """'Encounter/123', 'https://x/fhir/Encounter/123' or '.../Encounter/123/_history/2' -> (type, id)."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        return None
    return parts[-2], parts[-1]


class ResourceSet:
    """The parsed FHIR resources for one evaluation, by type and id.

    Build with `from_json`, `from_bundle` or `from_ndjson`; read with `of_type`,
    `get` and `resolve`. Invalid resources are in `issues`; skipped types are
    counted in `ignored`.
    """

    def __init__(self, types: Iterable[str] | None = None) -> None:
        self.types: frozenset[str] = frozenset(
            types if types is not None else ENGINE_RESOURCE_TYPES + SUPPORTING_RESOURCE_TYPES
        )
        unknown = sorted(t for t in self.types if not _is_fhir_type(t))
        if unknown:
            raise ValueError(f"not FHIR R4B resource types: {', '.join(unknown)}")
        self.issues: list[ResourceIssue] = []
        self.ignored: Counter[str] = Counter()
        #: resource types a searchset Bundle says were searched (its ``self`` link), even when it found none
        self.searched: set[str] = set()
        self._by_type: dict[str, list[Resource]] = {}
        self._by_id: dict[tuple[str, str], Resource] = {}
        self._by_full_url: dict[str, Resource] = {}

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_json(cls, resources: Iterable[Any], *, types: Iterable[str] | None = None) -> ResourceSet:
        """Parse resources given as JSON dicts; Bundles among them are followed."""
        rs = cls(types)
        for item in resources:
            rs.add(item)
        return rs

    @classmethod
    def from_bundle(cls, bundle: Any, *, types: Iterable[str] | None = None) -> ResourceSet:
        """Parse every resource in a Bundle (any bundle type, nested bundles followed)."""
        rs = cls(types)
        rs.add(bundle)
        return rs

    @classmethod
    def from_ndjson(cls, lines: Iterable[str | bytes], *, types: Iterable[str] | None = None) -> ResourceSet:
        """Parse FHIR NDJSON (one resource per line); a line that is not JSON is an issue."""
        rs = cls(types)
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                rs.issues.append(ResourceIssue(None, None, f"NDJSON line {number} is not valid JSON"))
                continue
            rs.add(item)
        return rs

    def add(self, item: Any, *, full_url: str | None = None) -> None:
        """Add one resource (or every resource of a Bundle). Never raises on bad input."""
        if not isinstance(item, Mapping):
            self.issues.append(ResourceIssue(None, None, f"not a JSON object but {type(item).__name__}"))
            return
        resource_type = item.get("resourceType")
        raw_id = item.get("id")
        rid = raw_id if isinstance(raw_id, str) else None
        if not isinstance(resource_type, str) or not resource_type:
            self.issues.append(ResourceIssue(None, rid, "missing resourceType"))
            return
        if resource_type == _BUNDLE:
            self._add_bundle(item)
            return
        if resource_type not in self.types:
            self.ignored[resource_type] += 1
            return
        if rid is not None and (resource_type, rid) in self._by_id:
            return  # the same resource through two prefetch keys; keep the first
        parsed = _parse(resource_type, item)
        if isinstance(parsed, str):
            self.issues.append(ResourceIssue(resource_type, rid, parsed))
            return
        self._by_type.setdefault(resource_type, []).append(parsed)
        if rid is not None:
            self._by_id[(resource_type, rid)] = parsed
        if full_url:
            self._by_full_url[full_url] = parsed

    def _add_bundle(self, bundle: Mapping[str, Any]) -> None:
        if bundle.get("type") == "searchset":
            searched = _searched_type(bundle)
            if searched is not None:
                self.searched.add(searched)
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            self.issues.append(ResourceIssue(_BUNDLE, _str_or_none(bundle.get("id")), "Bundle.entry is not a list"))
            return
        for entry in entries:
            if not isinstance(entry, Mapping):
                self.issues.append(
                    ResourceIssue(_BUNDLE, _str_or_none(bundle.get("id")), "Bundle entry is not an object")
                )
                continue
            request = entry.get("request")
            if isinstance(request, Mapping) and request.get("method") == "DELETE":
                continue
            search = entry.get("search")
            if isinstance(search, Mapping) and search.get("mode") == "outcome":
                continue  # OperationOutcome about the search itself
            resource = entry.get("resource")
            if resource is None:
                continue  # e.g. a transaction-response entry without the resource
            full_url = entry.get("fullUrl")
            self.add(resource, full_url=full_url if isinstance(full_url, str) else None)

    # -- reading ---------------------------------------------------------------------
    def of_type(self, resource_type: str) -> list[Any]:
        """All valid resources of one type, in input order (a new list)."""
        return list(self._by_type.get(resource_type, ()))

    def get(self, resource_type: str, id: str) -> Any | None:  # noqa: A002 - FHIR naming
        """The resource with this type and id, or None."""
        return self._by_id.get((resource_type, id))

    def resolve(self, reference: Any) -> Any | None:
        """Resolve a reference ('Encounter/123', an absolute URL, a urn:uuid fullUrl or a Reference)."""
        ref = getattr(reference, "reference", reference)
        if not isinstance(ref, str) or not ref:
            return None
        if ref in self._by_full_url:
            return self._by_full_url[ref]
        split = _split_reference(ref)
        if split is None:
            return None
        return self.get(*split)

    def resource_types(self) -> list[str]:
        """The types present, sorted."""
        return sorted(self._by_type)

    def __iter__(self) -> Iterator[Any]:
        for resources in self._by_type.values():
            yield from resources

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_type.values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{t}={len(v)}" for t, v in sorted(self._by_type.items()))
        return f"ResourceSet({counts}; issues={len(self.issues)})"


def _searched_type(bundle: Mapping[str, Any]) -> str | None:
    """The resource type of a searchset Bundle's ``self`` link ('.../Procedure?patient=1' -> 'Procedure')."""
    for link in bundle.get("link") or ():
        if not isinstance(link, Mapping) or link.get("relation") != "self":
            continue
        url = link.get("url")
        if not isinstance(url, str):
            continue
        path = url.split("?", 1)[0].rstrip("/")
        candidate = path.rsplit("/", 1)[-1]
        if candidate[:1].isupper() and _is_fhir_type(candidate):
            return candidate
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
