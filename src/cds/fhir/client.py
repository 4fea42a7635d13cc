"""Reading from the CDS client's FHIR server (async httpx): reads, searches, paging.

`FhirClient` fetches one prefetch query relative to ``fhirServer`` with the
call's bearer token. Searches follow Bundle ``next`` links, bounded by a page
and a resource limit, and only on the same origin as ``fhirServer`` (the token
is never sent anywhere else). The access token is held only for the call, is
never logged, and is hidden from ``repr``.

`FhirSource` is the protocol prefetch resolution needs; `BundleSource` answers
the same queries from an in-memory FHIR Bundle (``cds evaluate FILE``), so the
command line and the HTTP service share one prefetch path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from cds.fhir.identity import (
    NATIONAL_SYSTEMS,
    Link,
    PatientIdentity,
    PatientRef,
    identifiers_of,
    patient_refs_of_json,
    ref_of_json,
    split_reference,
)

__all__ = [
    "BundleSource",
    "FetchResult",
    "FhirClient",
    "FhirFetchError",
    "FhirFetchTimeout",
    "FhirSource",
    "bundle_resources",
]

log = logging.getLogger(__name__)

_FHIR_JSON = "application/fhir+json"


class FhirFetchError(Exception):
    """A query could not be answered; the message never contains the token or resource content."""


class FhirFetchTimeout(FhirFetchError):
    """A query was not answered in time (one request, or the call's whole fetch time)."""


@dataclass
class FetchResult:
    """The resources one query returned, and whether a bound cut it short."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


class FhirSource(Protocol):
    """Something that answers prefetch queries (``Patient/1``, ``Condition?patient=1``).

    A source may also say (attribute ``identifier_search``: ``identifier``,
    ``chained`` or None) that patient searches should be run in their logical
    form too, by the Patient's identifiers (see `cds.fhir.prefetch`), and by
    which systems besides the national ones (``identifier_systems``).
    """

    async def fetch(self, query: str) -> FetchResult: ...


def bundle_resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources in a Bundle's entries, leaving out search outcomes (OperationOutcome)."""
    out = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") != "OperationOutcome":
            out.append(resource)
    return out


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class FhirClient:
    """Fetches prefetch queries from one FHIR server for one call.

    ``http`` is a shared `httpx.AsyncClient` (connection pooling across calls);
    the token travels per request in the ``Authorization`` header.
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        http: httpx.AsyncClient,
        timeout_seconds: float = 1.5,
        max_pages: int = 20,
        max_resources: int = 5000,
        identifier_search: str | None = "identifier",
        identifier_systems: Iterable[str] = (),
    ) -> None:
        #: how patient searches are also run by identifier: ``identifier`` (``patient:identifier=``),
        #: ``chained`` (``patient.identifier=``) or None (not at all)
        self.identifier_search = identifier_search
        self.identifier_systems = frozenset(identifier_systems)
        self._base = base_url.rstrip("/") + "/"
        self.__token = access_token
        self._http = http
        self._timeout = httpx.Timeout(timeout_seconds)
        self._max_pages = max_pages
        self._max_resources = max_resources

    def __repr__(self) -> str:
        return f"FhirClient(base_url={self._base!r}, access_token=<redacted>)"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": _FHIR_JSON}
        if self.__token:
            headers["Authorization"] = f"Bearer {self.__token}"
        return headers

    async def _get(self, url: str) -> httpx.Response:
        try:
            return await self._http.get(url, headers=self._headers(), timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise FhirFetchTimeout("the FHIR server did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise FhirFetchError(f"the FHIR server could not be reached ({type(exc).__name__})") from exc

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise FhirFetchError("the FHIR server answered with something that is not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FhirFetchError("the FHIR server answered with something that is not a FHIR resource")
        return data

    async def fetch(self, query: str) -> FetchResult:
        """Run ``query`` (relative to the base URL) and return its resources."""
        is_search = "?" in query or "/" not in query.strip("/")
        url = urljoin(self._base, query.lstrip("/"))
        base_origin = _origin(self._base)
        result = FetchResult()
        for _page in range(self._max_pages):
            response = await self._get(url)
            if response.status_code in (404, 410) and not is_search:
                return result  # a read of something that does not exist: no data
            if response.status_code >= 400:
                raise FhirFetchError(f"the FHIR server answered HTTP {response.status_code}")
            data = self._json(response)
            if data["resourceType"] != "Bundle":
                if data["resourceType"] == "OperationOutcome":
                    raise FhirFetchError("the FHIR server answered with an OperationOutcome")
                result.resources.append(data)
                return result
            room = self._max_resources - len(result.resources)
            page = bundle_resources(data)
            result.resources.extend(page[:room])
            if len(page) > room:
                result.truncated = True
                return result
            next_url = _next_link(data)
            if next_url is None:
                return result
            next_url = urljoin(url, next_url)
            if _origin(next_url) != base_origin:
                log.warning("not following a Bundle next link to another origin (%s)", _origin(next_url)[1])
                result.truncated = True
                return result
            url = next_url
        result.truncated = True
        return result


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def _references(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            if isinstance(item, (Mapping, list)):
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _participants(resource: Mapping[str, Any]) -> tuple[PatientRef, ...]:
    """The actors of a resource's ``participant`` list (an Appointment's patient is one of them)."""
    participants = resource.get("participant")
    if not isinstance(participants, list):
        return ()
    refs = (ref_of_json(p.get("actor")) for p in participants if isinstance(p, Mapping))
    return tuple(ref for ref in refs if ref is not None)


class BundleSource:
    """Answers prefetch queries from the resources of a FHIR Bundle, as a FHIR server would.

    A read (``Type/id``) returns that resource. A search ``Type?patient=ID``
    (or ``subject=``) returns the resources of that type whose patient
    reference names ``Patient/ID`` literally *or* by an identifier
    (`cds.fhir.identity`), plus those naming it by an identifier that cannot be
    linked (another patient's, malformed, untrusted): the fact builder leaves
    them out and reports them, as it does for prefetch from a real client. A
    search ``Type?patient:identifier=SYSTEM|VALUE`` returns the resources that
    name the patient carrying that identifier. Other search parameters
    (``_count``) are ignored.
    """

    def __init__(self, resources: Iterable[Mapping[str, Any]], full_urls: Mapping[str, str] | None = None) -> None:
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            rtype = resource.get("resourceType")
            if isinstance(rtype, str):
                self._by_type.setdefault(rtype, []).append(dict(resource))
        #: fullUrl -> (type, id): resolves ``urn:uuid`` references as the Bundle's entries do
        self._full_urls = dict(full_urls or {})

    @classmethod
    def from_bundle(cls, bundle: Mapping[str, Any]) -> BundleSource:
        """All resources of a Bundle (nested Bundles included)."""
        flat: list[dict[str, Any]] = []
        full_urls: dict[str, str] = {}
        stack = [bundle]
        while stack:
            current = stack.pop()
            for entry in current.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if not isinstance(resource, dict) or resource.get("resourceType") == "OperationOutcome":
                    continue
                if resource.get("resourceType") == "Bundle":
                    stack.append(resource)
                    continue
                flat.append(resource)
                url = entry.get("fullUrl")
                if isinstance(url, str) and isinstance(resource.get("id"), str):
                    full_urls[url] = f"{resource['resourceType']}/{resource['id']}"
        return cls(flat, full_urls)

    def _resolve(self, reference: str) -> dict[str, Any] | None:
        target = self._full_urls.get(reference)
        if target is None:
            return None
        rtype, _, rid = target.partition("/")
        return next((r for r in self._by_type.get(rtype, []) if r.get("id") == rid), None)

    def _identity(self, patient_id: str, trusted: frozenset[str]) -> PatientIdentity:
        patient = next((r for r in self._by_type.get("Patient", []) if r.get("id") == patient_id), None)
        return PatientIdentity.of(patient, patient_id=patient_id, trusted=trusted, resolve=self._resolve)

    def _patient_by_identifier(self, token: str) -> str | None:
        system, bar, value = token.partition("|")
        wanted = (system, value) if bar else None
        for patient in self._by_type.get("Patient", []):
            for found in identifiers_of(patient):
                if found == wanted or (wanted is None and found[1] == token):
                    pid = patient.get("id")
                    return pid if isinstance(pid, str) else None
        return None

    async def fetch(self, query: str) -> FetchResult:
        path, _, qs = query.partition("?")
        parts = [p for p in path.split("/") if p]
        if not qs and len(parts) == 2:
            rtype, rid = parts
            return FetchResult([r for r in self._by_type.get(rtype, []) if r.get("id") == rid][:1])
        rtype = parts[0] if parts else ""
        params = dict(parse_qsl(qs))
        candidates = self._by_type.get(rtype, [])
        patient = params.get("patient") or params.get("subject")
        by_identifier = params.get("patient:identifier") or params.get("subject:identifier")
        if patient is None and by_identifier is not None:
            patient = self._patient_by_identifier(by_identifier)
            if patient is None:
                return FetchResult([])
        if patient is None:
            return FetchResult(list(candidates))
        patient_id = split_reference(patient)[1] if "/" in patient and split_reference(patient) else patient
        identity = self._identity(patient_id, NATIONAL_SYSTEMS)
        wanted = f"Patient/{patient_id}"
        found = []
        for resource in candidates:
            verdict = identity.belongs(patient_refs_of_json(resource))
            if verdict is Link.THIS or verdict.reported or verdict is Link.NONE and any(ref.endswith(wanted) for ref in _references(resource)) or verdict is Link.NONE and (actors := _participants(resource)) and identity.among_participants(actors):
                found.append(resource)
        return FetchResult(found)
