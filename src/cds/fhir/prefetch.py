"""Prefetch resolution: from a CDS Hooks call to the FHIR resources for evaluation.

Each prefetch key a service declares is in one of three states in a call
(CDS Hooks 2.0.1, "Prefetch"):

1. **absent** - the client did not send it: read it from ``fhirServer`` with the
   call's bearer token. When there is no server, or the read fails, the call
   cannot be answered (`PrefetchUnavailable`, HTTP 412) naming the key(s).
2. **null** - the client says no such data exists: nothing is fetched.
3. **OperationOutcome** - the client tried and failed: treated as absent.

Partial prefetch is normal. A template naming a context field the call does
not carry (``{{context.encounterId}}`` in a ``patient-view`` call without an
encounter) is not needed for that call and is skipped. Values that are not
FHIR at all (a string, a list, an object without ``resourceType``, a resource
of the wrong type for the key) are refused (`PrefetchInvalid`, HTTP 400).

Example::

    >>> render_template("Condition?patient={{context.patientId}}", {"patientId": "p 1"})
    'Condition?patient=p%201'
    >>> render_template("Encounter/{{context.encounterId}}", {"patientId": "p1"}) is None
    True
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cds.fhir.client import FetchResult, FhirFetchError, FhirSource

__all__ = [
    "PrefetchInvalid",
    "PrefetchResult",
    "PrefetchUnavailable",
    "render_template",
    "resolve_prefetch",
]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


class PrefetchInvalid(Exception):
    """Prefetch values that are not FHIR resources; ``messages`` name the keys."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


class PrefetchUnavailable(Exception):
    """Data the service needs is absent and cannot be fetched; ``keys`` name it."""

    def __init__(self, keys: list[str], reason: str) -> None:
        self.keys = keys
        self.reason = reason
        super().__init__(f"{reason}: {', '.join(keys)}")


@dataclass
class PrefetchResult:
    """The resources for one call and how each key was resolved."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    provided: list[str] = field(default_factory=list)
    null: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    #: resource types whose patient search is known to have run (sent, null or fetched):
    #: an empty result for one of these means "none", not "unknown"
    searched: set[str] = field(default_factory=set)


def render_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill ``{{context.X}}`` and ``{{userPractitionerId}}``; None if a value is missing.

    Values are URL-encoded, so a context value can never change the query's shape.
    """
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        found: Any = None
        if name.startswith("context."):
            found = context.get(name.removeprefix("context."))
        elif name in ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"):
            user = context.get("userId")
            prefix = name.removeprefix("user").removesuffix("Id") + "/"
            if isinstance(user, str) and user.startswith(prefix):
                found = user.removeprefix(prefix)
        if not isinstance(found, str) or not found:
            missing = True
            return ""
        return quote(found, safe="")

    rendered = _TOKEN.sub(value, template)
    return None if missing else rendered


def _expected_type(template: str) -> tuple[str, bool]:
    """The resource type a template reads and whether it is a search."""
    path, _, query = template.partition("?")
    head = path.strip("/").split("/")[0]
    return head, bool(query) or "/" not in path.strip("/")


def _is_outcome(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome"


def _check_value(key: str, template: str, value: Any) -> str | None:
    """An error message when a prefetch value is not usable FHIR, else None."""
    if not isinstance(value, Mapping):
        return f"prefetch.{key}: expected a FHIR resource or null, got {type(value).__name__}"
    rtype = value.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return f"prefetch.{key}: missing resourceType"
    expected, _search = _expected_type(template)
    if rtype not in (expected, "Bundle", "OperationOutcome"):
        return f"prefetch.{key}: expected {expected} or a Bundle, got {rtype}"
    if rtype == "Bundle" and not isinstance(value.get("entry", []), list):
        return f"prefetch.{key}: Bundle.entry must be a list"
    return None


def _check_read(key: str, template: str, value: Any, context: Mapping[str, Any]) -> str | None:
    """A read (``Patient/{{context.patientId}}``) must answer with that very resource."""
    _, is_search = _expected_type(template)
    query = render_template(template, context)
    if is_search or query is None or not isinstance(value, Mapping) or value.get("resourceType") in (
        "Bundle", "OperationOutcome"):
        return None
    sent_id = value.get("id")
    wanted = query.strip("/").split("/")[-1]
    if isinstance(sent_id, str) and quote(sent_id, safe="") != wanted:
        return f"prefetch.{key}: is {value.get('resourceType')}/{sent_id}, but the template asks for {query}"
    return None


def _resources_of(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    # Bundles stay whole: ResourceSet follows them and keeps fullUrls for reference resolution.
    return [dict(value)]


async def resolve_prefetch(
    templates: Mapping[str, str],
    context: Mapping[str, Any],
    prefetch: Mapping[str, Any] | None,
    source: FhirSource | None,
    *,
    max_concurrency: int = 8,
    total_timeout_seconds: float | None = None,
) -> PrefetchResult:
    """Resolve every template to resources: use what was sent, fetch what is absent.

    Raises `PrefetchInvalid` for values that are not FHIR and `PrefetchUnavailable`
    when an absent key cannot be fetched (no ``source``, the fetch failed, or all
    fetching together took longer than ``total_timeout_seconds``).
    """
    sent = prefetch or {}
    result = PrefetchResult()
    problems: list[str] = []
    for key, template in templates.items():
        if key in sent and sent[key] is not None:
            message = _check_value(key, template, sent[key]) or _check_read(key, template, sent[key], context)
            if message:
                problems.append(message)
    if problems:
        raise PrefetchInvalid(problems)

    to_fetch: dict[str, str] = {}
    for key, template in templates.items():
        query = render_template(template, context)
        rtype, is_search = _expected_type(template)
        if key in sent and sent[key] is None:
            result.null.append(key)
            if is_search:
                result.searched.add(rtype)
        elif key in sent and not _is_outcome(sent[key]):
            result.provided.append(key)
            result.resources.extend(_resources_of(sent[key]))
            if is_search:
                result.searched.add(rtype)
        elif query is None:
            result.skipped.append(key)
        else:
            to_fetch[key] = query

    if not to_fetch:
        return result
    if source is None:
        raise PrefetchUnavailable(sorted(to_fetch), "prefetch data is missing and no fhirServer was given")

    semaphore = asyncio.Semaphore(max_concurrency)

    async def one(key: str, query: str) -> tuple[str, FetchResult | FhirFetchError]:
        async with semaphore:
            try:
                return key, await source.fetch(query)
            except FhirFetchError as exc:
                return key, exc

    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(one(k, q) for k, q in to_fetch.items())), timeout=total_timeout_seconds
        )
    except TimeoutError:
        raise PrefetchUnavailable(
            sorted(to_fetch), f"the FHIR server did not answer within {total_timeout_seconds:g} s"
        ) from None
    failed = [(key, out) for key, out in outcomes if isinstance(out, FhirFetchError)]
    if failed:
        reasons = sorted({str(err) for _, err in failed})
        reason = f"could not read from fhirServer ({'; '.join(reasons)})"
        raise PrefetchUnavailable(sorted(k for k, _ in failed), reason)
    for key, out in outcomes:
        assert isinstance(out, FetchResult)
        result.fetched.append(key)
        rtype, is_search = _expected_type(templates[key])
        if is_search:
            result.searched.add(rtype)
        result.resources.extend(out.resources)
        if out.truncated:
            result.truncated.append(key)
            log.warning("prefetch key %s was cut short by the paging bounds", key)
    return result
