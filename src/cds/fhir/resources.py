"""The FHIR R4 resources available to one evaluation, parsed with ``fhir.resources.R4B``.

`ResourceSet` is built from plain JSON dicts (Bundle entries, CDS Hooks prefetch
values, NDJSON lines) or from `JsonBytes`: a JSON value kept as the exact bytes
it arrived in (the service's prefetch values), decoded only when it is not in
the cache. It never raises on bad input: a resource that fails R4B
validation is left out and reported in ``issues`` (resource type, id and a short
message; never the resource content), resource types the engine does not read
are skipped and counted in ``ignored``.

Bundles (searchset, collection, transaction, batch, history, document and
their responses) are followed wherever they appear, including nested ones.

Validating a resource with the R4B pydantic models is the costly step (the
Python-level validators in ``fhir_core``; figures in docs/performance.md), so
parse results are cached, keyed by exact JSON content (``orjson``
serialisation), at two levels:

* per Bundle (a prefetch value, a fetched search page): the Bundle's JSON
  finds everything it contributes to a set (its models in order, its issues,
  ignored and searched types), added in bulk. For `JsonBytes` the key is the
  bytes as received, so a chart seen before costs a checksum and one byte
  comparison per prefetch value: no JSON decoding, no walk, no lookup per
  resource. A dict is serialised with ``orjson.dumps`` for its key. A single
  resource given as `JsonBytes` (a ``Patient/{id}`` read) is cached the same way;
* per resource, behind it: a Bundle not seen before is walked, and only its
  resources not seen before are validated (a Bundle differing from a known one
  in one resource validates that one). Resources given one by one (NDJSON,
  lists) use this level directly.

Invalid resources are cached with their issue, so they are still reported
every time. Two dicts with the same content in a different key order are
validated separately (correct, just slower). Both caches are thread-safe LRUs
bounded by entries and by the size of the JSON they stand for. Models from the
cache are shared between calls: treat them as read-only.

Example::

    >>> rs = ResourceSet.from_json([{"resourceType": "Patient", "id": "p1", "gender": "female"}])
    >>> rs.get("Patient", "p1").gender
    'female'
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from cds.jsondepth import check_depth

__all__ = [
    "ENGINE_RESOURCE_TYPES",
    "SUPPORTING_RESOURCE_TYPES",
    "JsonBytes",
    "JsonHead",
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

_DEFAULT_TYPES: frozenset[str] = frozenset(ENGINE_RESOURCE_TYPES + SUPPORTING_RESOURCE_TYPES)
_BUNDLE = "Bundle"
_MAX_ERRORS_PER_ISSUE = 3
_MAX_MESSAGE_CHARS = 300

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ResourceIssue:
    """A resource that could not be used. Never carries the resource's content."""

    resource_type: str | None
    id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.resource_type or '?'}/{self.id or '?'}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Leaf:
    """One resource met in a Bundle: its (type, id), its model or its issue, and its entry's fullUrl."""

    resource_type: str
    key: tuple[str, str] | None
    result: Resource | ResourceIssue
    full_url: str | None


@dataclass(frozen=True, slots=True)
class JsonHead:
    """What prefetch checking reads of a top-level JSON value, without the rest of it."""

    #: the Python type the JSON decodes to: ``dict`` for an object, else ``list``, ``str``, ...
    type_name: str
    resource_type: Any = None
    id: Any = None
    #: ``Bundle.entry`` is a list or absent
    entry_is_list: bool = True

    @classmethod
    def of(cls, value: Any) -> JsonHead:
        """The head of a decoded JSON value."""
        if not isinstance(value, Mapping):
            return cls(type(value).__name__)
        return cls("dict", value.get("resourceType"), value.get("id"), isinstance(value.get("entry", []), list))


_UNDECODED: Any = object()


class JsonBytes:
    """One JSON value as the exact bytes it arrived in (a CDS Hooks prefetch value), decoded at most once.

    A `ResourceSet` looks it up in the parse cache by those bytes: a value seen
    before is neither decoded nor serialised again. The bytes must be one
    complete JSON value; when they are not valid JSON, or nest deeper than
    ``max_depth`` levels (`cds.jsondepth`, checked before decoding), `value`
    raises `ValueError` and a `ResourceSet` reports an issue.

    >>> JsonBytes(b'{"resourceType": "Patient", "id": "p1"}').head().resource_type
    'Patient'
    """

    __slots__ = ("_decoded", "_found", "_key", "_outer", "data", "max_depth")

    def __init__(self, data: bytes, max_depth: int | None = None, *, outer: int = 0) -> None:
        self.data = data
        #: the bound on nesting, counted from the document the value is ``outer`` levels inside
        self.max_depth = max_depth
        self._outer = outer
        self._key = (zlib.crc32(data), len(data))
        self._decoded: Any = _UNDECODED
        #: the cached contribution last looked up, with the types it is for
        self._found: tuple[frozenset[str], _Contribution] | None = None

    def value(self) -> Any:
        """The decoded JSON; `ValueError` (``orjson.JSONDecodeError``) when the bytes are not valid JSON."""
        if self._decoded is _UNDECODED:
            if self.max_depth is not None:
                check_depth(self.data, self.max_depth, outer=self._outer)
            self._decoded = orjson.loads(self.data)
        return self._decoded

    def head(self, types: Iterable[str] | None = None) -> JsonHead:
        """The value's `JsonHead`: from the parse cache (for ``types``, default: `ResourceSet`'s), else decoded.

        Raises `ValueError` when the value must be decoded and is not valid JSON.
        """
        checked = _checked_types(frozenset(types) if types is not None else _DEFAULT_TYPES)
        found = self._cached(checked)
        return found.head if found is not None else JsonHead.of(self.value())

    @property
    def cached(self) -> bool:
        """Whether the last `head` or `contribution` found the value in the parse cache (nothing left to validate)."""
        return self._found is not None

    def _cached(self, types: frozenset[str]) -> _Contribution | None:
        if self._found is not None and self._found[0] is types:
            return self._found[1]
        hit = _BUNDLE_CACHE.get((types, *self._key))
        if hit is None or hit[0] != self.data:
            return None
        self._found = (types, hit[1])
        return hit[1]

    def contribution(self, types: frozenset[str]) -> _Contribution:
        """What the value adds to a set of ``types``: cached, or walked and cached (`ValueError` if not JSON)."""
        found = self._cached(types)
        if found is None:
            found = _walk(self.value(), types)
            _BUNDLE_CACHE.put((types, *self._key), (self.data, found), len(self.data))
            self._found = (types, found)
        return found

    def __repr__(self) -> str:  # never the content: it may be a patient's record
        return f"JsonBytes({len(self.data)} bytes)"


@dataclass(frozen=True, slots=True)
class _Contribution:
    """What a top-level value (a Bundle, nested Bundles included, or one resource) adds to a set of given types.

    It does not depend on the set it is added to, so it can be cached: "keep the
    first of two resources with the same type and id" across prefetch values is
    applied when it is added (`ResourceSet._take`).
    """

    #: resources and structural issues, in input order
    steps: tuple[_Leaf | ResourceIssue, ...]
    #: (type, id) of every resource in ``steps``
    keys: frozenset[tuple[str, str]]
    #: the set the Bundle makes on its own (its ignored and searched types included): added in bulk
    #: to a set that has none of ``keys`` yet, which gives what adding ``steps`` one by one would
    alone: ResourceSet
    #: the value's head, for prefetch checks of `JsonBytes` found in the cache
    head: JsonHead


class _LruCache(Generic[K, V]):
    """A thread-safe LRU bounded by its number of entries and by the total size of the JSON they stand for.

    The size bound matters because FHIR resources can be large (a DocumentReference
    with an inline attachment): a count alone would not bound the memory.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` under ``key`` (``size``: bytes of the JSON it stands for), evicting the oldest."""
        if size > self.max_bytes:
            return  # larger than the whole budget: not worth evicting everything for
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, evicted_size) = self._entries.popitem(last=False)
                self._bytes -= evicted_size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Total size of the content the entries stand for."""
        return self._bytes


_MIB = 1024 * 1024

#: parse result (model or issue message) per resource JSON
_RESOURCE_CACHE: _LruCache[bytes, Resource | str] = _LruCache(max_entries=50_000, max_bytes=64 * _MIB)
#: (types, CRC-32 of a value's JSON, its length) -> (the JSON, what the value contributes to a set of those types):
#: Bundles given as dicts (key: their ``orjson`` serialisation) and every `JsonBytes` (key: its bytes)
_BundleKey = tuple[frozenset[str], int, int]
_BUNDLE_CACHE: _LruCache[_BundleKey, tuple[bytes, _Contribution]] = _LruCache(max_entries=5_000, max_bytes=64 * _MIB)


def clear_parse_cache() -> None:
    """Forget every cached parse result (tests and benchmarks measuring cold parsing)."""
    _RESOURCE_CACHE.clear()
    _BUNDLE_CACHE.clear()


def _content_key(raw: Any) -> bytes | None:
    """The exact JSON content of ``raw`` as bytes, or None when it cannot be serialised (not cached then)."""
    try:
        return orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        return None


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


def _parse(resource_type: str, raw: Mapping[str, Any], *, cache: bool = True) -> Resource | str:
    """Validate one resource with its R4B model; return the model or a short error message.

    ``cache=False`` neither reads nor fills the resource cache (input seen once, such as a bulk export).
    """
    key = _content_key(raw) if cache else None
    if key is not None:
        cached = _RESOURCE_CACHE.get(key)
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
        _RESOURCE_CACHE.put(key, result, len(key))
    return result


def _is_fhir_type(resource_type: str) -> bool:
    try:
        get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError, ImportError):
        return False
    return True


@functools.lru_cache(maxsize=64)
def _checked_types(types: frozenset[str]) -> frozenset[str]:
    """``types`` when all are R4B resource types; one canonical object per set, checked once."""
    unknown = sorted(t for t in types if not _is_fhir_type(t))
    if unknown:
        raise ValueError(f"not FHIR R4B resource types: {', '.join(unknown)}")
    return types


def _bundle_contribution(bundle: Mapping[str, Any], types: frozenset[str]) -> _Contribution:
    """What ``bundle`` adds to a set of ``types``: from the Bundle cache when seen before, else by walking it.

    The Bundle cache is keyed by the CRC-32 and length of the Bundle's JSON, not
    by the JSON itself: Python would hash a 100 KiB key with SipHash on every
    call, which costs about as much as serialising it. An entry keeps the exact
    JSON and a hit compares it byte for byte, so a checksum collision is a miss
    (the Bundle is walked, its resources come from the resource cache), never a
    wrong answer; and one entry per checksum means crafted collisions cannot
    build long probe chains.
    """
    content = _content_key(bundle)
    if content is None:
        return _walk(bundle, types)
    key = (types, zlib.crc32(content), len(content))
    cached = _BUNDLE_CACHE.get(key)
    if cached is not None and cached[0] == content:
        return cached[1]
    result = _walk(bundle, types)
    _BUNDLE_CACHE.put(key, (content, result), len(content))
    return result


def _walk(value: Any, types: frozenset[str]) -> _Contribution:
    """Add ``value`` to a set of its own that records each step (resources via the resource cache)."""
    alone = ResourceSet(types)
    steps: list[_Leaf | ResourceIssue] = []
    alone._steps = steps
    alone.add(value)
    alone._steps = None
    keys = frozenset(step.key for step in steps if isinstance(step, _Leaf) and step.key is not None)
    return _Contribution(tuple(steps), keys, alone, JsonHead.of(value))


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

    def __init__(self, types: Iterable[str] | None = None, *, cache: bool = True) -> None:
        self.types: frozenset[str] = _checked_types(frozenset(types) if types is not None else _DEFAULT_TYPES)
        #: whether parsing goes through the content-keyed caches; off for input seen once (bulk
        #: exports), where caching would only cost the keys and keep every model alive for the GC
        self.cache = cache
        self.issues: list[ResourceIssue] = []
        self.ignored: Counter[str] = Counter()
        #: resource types a searchset Bundle says were searched (its ``self`` link), even when it found none
        self.searched: set[str] = set()
        #: resource types whose search was cut short or failed: what is here of them is not all there is,
        #: so their absence means "unknown" and facts drawn from them stay unknown (set by prefetch resolution)
        self.incomplete: set[str] = set()
        self._by_type: dict[str, list[Resource]] = {}
        self._by_id: dict[tuple[str, str], Resource] = {}
        self._by_full_url: dict[str, Resource] = {}
        #: while the set records a Bundle's `_Contribution`: what is added, in order
        self._steps: list[_Leaf | ResourceIssue] | None = None

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_json(
        cls, resources: Iterable[Any], *, types: Iterable[str] | None = None, cache: bool = True
    ) -> ResourceSet:
        """Parse resources given as JSON dicts; Bundles among them are followed (``cache``: see `__init__`)."""
        rs = cls(types, cache=cache)
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
        """Add one resource (or every resource of a Bundle), as a dict or `JsonBytes`. Never raises on bad input."""
        if type(item) is JsonBytes:
            self._add_json_bytes(item)
            return
        if not isinstance(item, Mapping):
            self._issue(ResourceIssue(None, None, f"not a JSON object but {type(item).__name__}"))
            return
        resource_type = item.get("resourceType")
        raw_id = item.get("id")
        rid = raw_id if isinstance(raw_id, str) else None
        if not isinstance(resource_type, str) or not resource_type:
            self._issue(ResourceIssue(None, rid, "missing resourceType"))
            return
        if resource_type == _BUNDLE:
            if self._steps is None and self.cache:
                self._take(_bundle_contribution(item, self.types))
            else:  # recording a Bundle's contribution: a nested Bundle is part of it
                self._add_bundle(item)
            return
        if resource_type not in self.types:
            self.ignored[resource_type] += 1
            return
        key = (resource_type, rid) if rid is not None else None
        if key is not None and key in self._by_id:
            return  # the same resource through two prefetch keys; keep the first
        parsed = _parse(resource_type, item, cache=self.cache)
        if isinstance(parsed, str):
            self._invalid(resource_type, key, ResourceIssue(resource_type, rid, parsed))
        else:
            self._keep(resource_type, key, parsed, full_url or None)

    def _add_json_bytes(self, item: JsonBytes) -> None:
        try:
            if self.cache and self._steps is None:
                self._take(item.contribution(self.types))
            else:
                self.add(item.value())
        except ValueError as exc:
            self._issue(ResourceIssue(None, None, f"not valid JSON: {exc}"[:_MAX_MESSAGE_CHARS]))

    def _add_bundle(self, bundle: Mapping[str, Any]) -> None:
        if bundle.get("type") == "searchset":
            searched = _searched_type(bundle)
            if searched is not None:
                self.searched.add(searched)
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            self._issue(ResourceIssue(_BUNDLE, _str_or_none(bundle.get("id")), "Bundle.entry is not a list"))
            return
        for entry in entries:
            if not isinstance(entry, Mapping):
                self._issue(ResourceIssue(_BUNDLE, _str_or_none(bundle.get("id")), "Bundle entry is not an object"))
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

    def _issue(self, issue: ResourceIssue) -> None:
        self.issues.append(issue)
        if self._steps is not None:
            self._steps.append(issue)

    def _invalid(self, resource_type: str, key: tuple[str, str] | None, issue: ResourceIssue) -> None:
        self.issues.append(issue)
        if self._steps is not None:
            self._steps.append(_Leaf(resource_type, key, issue, None))

    def _keep(self, resource_type: str, key: tuple[str, str] | None, model: Resource, full_url: str | None) -> None:
        bucket = self._by_type.get(resource_type)
        if bucket is None:
            bucket = self._by_type[resource_type] = []
        bucket.append(model)
        if key is not None:
            self._by_id[key] = model
        if full_url is not None:
            self._by_full_url[full_url] = model
        if self._steps is not None:
            self._steps.append(_Leaf(resource_type, key, model, full_url))

    def _take(self, contribution: _Contribution) -> None:
        """Add what a Bundle contributes; the first resource with a given type and id is kept.

        (The same resource through two prefetch keys: a later copy is not added,
        and an invalid later copy is not reported.)
        """
        alone = contribution.alone
        if self._by_id.keys().isdisjoint(contribution.keys):
            # Nothing in common yet (the usual case): bulk operations instead of a loop over resources.
            self.issues.extend(alone.issues)
            for resource_type, resources in alone._by_type.items():
                self._by_type.setdefault(resource_type, []).extend(resources)
            self._by_id.update(alone._by_id)
            self._by_full_url.update(alone._by_full_url)
        else:
            for step in contribution.steps:
                if isinstance(step, ResourceIssue):
                    self._issue(step)
                elif step.key is None or step.key not in self._by_id:
                    if isinstance(step.result, ResourceIssue):
                        self._invalid(step.resource_type, step.key, step.result)
                    else:
                        self._keep(step.resource_type, step.key, step.result, step.full_url)
        if alone.ignored:
            self.ignored.update(alone.ignored)
        self.searched.update(alone.searched)

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
