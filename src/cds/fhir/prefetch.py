"""Prefetch resolution: from a CDS Hooks call to the FHIR resources for evaluation.

Each prefetch key a service declares is in one of three states in a call
(CDS Hooks 2.0.1, "Prefetch"):

1. **absent** - the client did not send it: read it from ``fhirServer`` with the
   call's bearer token. When there is no server, or the read fails, the call
   cannot be answered (`PrefetchUnavailable`, HTTP 412) naming the key(s).
2. **null** - the client says no such data exists: nothing is fetched.
3. **OperationOutcome** - the client tried and failed: treated as absent.

A *search* that was cut short (the paging bounds), failed or did not finish
within the call's fetch time is not an error but **incomplete**: none of its
resources are used (facts are never drawn from part of a type's data), its
resource type is reported in `PrefetchResult.incomplete` (the fact builder
then treats the type as unknown, and the response carries a data-quality
card, see `cds.fhir.completeness`). A *read* (the Patient, the Encounter) that
cannot be done still makes the call unanswerable (HTTP 412).

**Logical references.** Norwegian systems often name the patient by
fødselsnummer (``subject.identifier``) instead of ``Patient/<id>``, and a FHIR
server's ``patient=<id>`` search does not find those. When the source says
so (``FhirSource.identifier_search``: ``identifier`` or ``chained``), every
patient search that is fetched is also run in its logical form, once per
national (or trusted) identifier the Patient carries with valid check digits
(``Observation?patient:identifier=urn:oid:2.16.578.1.12.4.1.4.1|<fnr>``, or
``patient.identifier=`` for ``chained``), and the results are merged without
duplicates. The Patient is read first when it must be fetched too.

Partial prefetch is normal. A value may be a decoded dict or `JsonBytes` (the
service keeps prefetch values as the bytes it received, see
`cds.hooks.wire`): checks read its `JsonHead`, from the parse cache when the
same bytes were seen before. A template naming a context field the call does
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
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cds.fhir.client import FetchResult, FhirFetchError, FhirFetchTimeout, FhirSource
from cds.fhir.identity import NATIONAL_SYSTEMS, identifiers_of, well_formed
from cds.fhir.resources import JsonBytes, JsonHead

__all__ = [
    "PrefetchInvalid",
    "PrefetchResult",
    "PrefetchUnavailable",
    "render_template",
    "resolve_prefetch",
]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_ABSENT = object()  # a prefetch key the call did not send (unlike null, which it did)


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

    #: the values to parse: dicts, or `JsonBytes` as the client sent them
    resources: list[dict[str, Any] | JsonBytes] = field(default_factory=list)
    provided: list[str] = field(default_factory=list)
    null: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    #: search keys whose data is missing or partial -> (resource type, why: ``truncated``, ``timeout`` or
    #: ``failed``, see `cds.fhir.completeness`); their resources are not used
    incomplete: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: resource types whose patient search is known to have run (sent, null or fetched):
    #: an empty result for one of these means "none", not "unknown"
    searched: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Template:
    """A prefetch template taken apart once: its literal text around the ``{{...}}`` tokens, what it reads."""

    literals: tuple[str, ...]  # one more than tokens: literal, token, literal, ..., literal
    tokens: tuple[str, ...]
    resource_type: str
    is_search: bool

    def render(self, context: Mapping[str, Any]) -> str | None:
        """The query with URL-encoded context values; None if one is missing."""
        parts = [self.literals[0]]
        for token, literal in zip(self.tokens, self.literals[1:], strict=True):
            value = _token_value(token, context)
            if value is None:
                return None
            parts.append(value)
            parts.append(literal)
        return "".join(parts)


@functools.lru_cache(maxsize=256)
def _compile(template: str) -> _Template:
    """Split a template once (templates come from service definitions: a handful, used on every call)."""
    literals: list[str] = []
    tokens: list[str] = []
    position = 0
    for match in _TOKEN.finditer(template):
        literals.append(template[position : match.start()])
        tokens.append(match.group(1))
        position = match.end()
    literals.append(template[position:])
    path, _, query = template.partition("?")
    head = path.strip("/").split("/")[0]
    is_search = bool(query) or "/" not in path.strip("/")
    return _Template(tuple(literals), tuple(tokens), head, is_search)


def _token_value(token: str, context: Mapping[str, Any]) -> str | None:
    """The URL-encoded value of ``context.X`` or ``userPractitionerId`` (etc.), None when missing."""
    found: Any = None
    if token.startswith("context."):
        found = context.get(token.removeprefix("context."))
    elif token in ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"):
        user = context.get("userId")
        prefix = token.removeprefix("user").removesuffix("Id") + "/"
        if isinstance(user, str) and user.startswith(prefix):
            found = user.removeprefix(prefix)
    if not isinstance(found, str) or not found:
        return None
    return quote(found, safe="")


def render_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill ``{{context.X}}`` and ``{{userPractitionerId}}``; None if a value is missing.

    Values are URL-encoded, so a context value can never change the query's shape.
    """
    return _compile(template).render(context)


def source_systems(source: FhirSource) -> frozenset[str]:
    """The identifier systems a source searches by: the national ones and those it trusts besides."""
    return NATIONAL_SYSTEMS | frozenset(getattr(source, "identifier_systems", ()) or ())


async def _patient_identifiers(
    templates: Mapping[str, str],
    sent: Mapping[str, Any],
    to_fetch: dict[str, str],
    source: FhirSource,
    result: PrefetchResult,
    systems: frozenset[str],
) -> list[tuple[str, str]]:
    """The Patient's searchable identifiers: from its prefetch value, or read first (then taken out of ``to_fetch``)."""
    for key, text in templates.items():
        template = _compile(text)
        if template.resource_type != "Patient" or template.is_search:
            continue
        patient: Any = None
        if key in to_fetch:
            try:
                fetched = await source.fetch(to_fetch[key])
            except FhirFetchError as exc:
                raise PrefetchUnavailable([key], f"could not read from fhirServer ({exc})") from None
            del to_fetch[key]
            result.fetched.append(key)
            result.resources.extend(fetched.resources)
            patient = next((r for r in fetched.resources if r.get("resourceType") == "Patient"), None)
        else:
            value = sent.get(key)
            patient = value.value() if type(value) is JsonBytes else value
        if isinstance(patient, Mapping) and patient.get("resourceType") == "Patient":
            return [(s, v) for s, v in identifiers_of(patient) if s in systems and well_formed(s, v)]
    return []


def _logical_queries(query: str, identifiers: list[tuple[str, str]], mode: str | None) -> list[str]:
    """The query once per identifier with its ``patient=``/``subject=`` parameter in logical form (none if it has none)."""
    path, _, qs = query.partition("?")
    params = qs.split("&") if qs else []
    for position, param in enumerate(params):
        name, _, _value = param.partition("=")
        if name in ("patient", "subject"):
            logical = f"{name}:identifier" if mode == "identifier" else f"{name}.identifier" if name == "patient" else (
                "subject:Patient.identifier")
            return [
                f"{path}?" + "&".join([*params[:position], f"{logical}={quote(f'{s}|{v}', safe='')}", *params[position + 1:]])
                for s, v in identifiers
            ]
    return []


def _merge(outcomes: list[FetchResult | FhirFetchError]) -> FetchResult | FhirFetchError:
    """The resources of the literal and logical searches together, each once (by type and id); any failure fails all."""
    for outcome in outcomes:
        if isinstance(outcome, FhirFetchError):
            return outcome
    merged = FetchResult()
    seen: set[tuple[Any, Any]] = set()
    for outcome in outcomes:
        assert isinstance(outcome, FetchResult)
        merged.truncated = merged.truncated or outcome.truncated
        for resource in outcome.resources:
            key = (resource.get("resourceType"), resource.get("id"))
            if key[1] is None or key not in seen:
                seen.add(key)
                merged.resources.append(resource)
    return merged


def _check_value(key: str, template: _Template, head: JsonHead) -> str | None:
    """An error message when a prefetch value is not usable FHIR, else None."""
    if head.type_name != "dict":
        return f"prefetch.{key}: expected a FHIR resource or null, got {head.type_name}"
    rtype = head.resource_type
    if not isinstance(rtype, str) or not rtype:
        return f"prefetch.{key}: missing resourceType"
    expected = template.resource_type
    if rtype not in (expected, "Bundle", "OperationOutcome"):
        return f"prefetch.{key}: expected {expected} or a Bundle, got {rtype}"
    if rtype == "Bundle" and not head.entry_is_list:
        return f"prefetch.{key}: Bundle.entry must be a list"
    return None


def _check_read(key: str, template: _Template, head: JsonHead, context: Mapping[str, Any]) -> str | None:
    """A read (``Patient/{{context.patientId}}``) must answer with that very resource."""
    if template.is_search or head.resource_type in ("Bundle", "OperationOutcome"):
        return None
    query = template.render(context)
    if query is None:
        return None
    sent_id = head.id
    wanted = query.strip("/").split("/")[-1]
    if isinstance(sent_id, str) and quote(sent_id, safe="") != wanted:
        return f"prefetch.{key}: is {head.resource_type}/{sent_id}, but the template asks for {query}"
    return None


def _head(key: str, value: Any) -> JsonHead | str:
    """The value's `JsonHead`, or an error message when it is `JsonBytes` that are not valid JSON."""
    if type(value) is JsonBytes:
        try:
            return value.head()
        except ValueError as exc:
            return f"prefetch.{key}: not valid JSON ({exc})"
    return JsonHead.of(value)


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
    to_fetch: dict[str, str] = {}
    for key, text in templates.items():
        template = _compile(text)
        value = sent.get(key, _ABSENT)
        if value is None:
            result.null.append(key)
            if template.is_search:
                result.searched.add(template.resource_type)
            continue
        if value is not _ABSENT:
            head = _head(key, value)
            problem = head if isinstance(head, str) else (
                _check_value(key, template, head) or _check_read(key, template, head, context)
            )
            if problem:
                problems.append(problem)
                continue
            assert isinstance(head, JsonHead)
            if head.resource_type != "OperationOutcome":
                result.provided.append(key)
                # Bundles stay whole (ResourceSet keeps their fullUrls); JsonBytes stay bytes (cache keys)
                result.resources.append(value if type(value) is JsonBytes else dict(value))
                if template.is_search:
                    result.searched.add(template.resource_type)
                continue
        # absent, or an OperationOutcome (the client tried and failed): read it from fhirServer
        query = template.render(context)
        if query is None:
            result.skipped.append(key)
        else:
            to_fetch[key] = query
    if problems:
        raise PrefetchInvalid(problems)

    if not to_fetch:
        return result
    if source is None:
        raise PrefetchUnavailable(sorted(to_fetch), "prefetch data is missing and no fhirServer was given")

    semaphore = asyncio.Semaphore(max_concurrency)
    mode = getattr(source, "identifier_search", None)
    identifiers: list[tuple[str, str]] = []
    if mode in ("identifier", "chained") and any(_compile(templates[k]).is_search for k in to_fetch):
        identifiers = await _patient_identifiers(templates, sent, to_fetch, source, result, source_systems(source))

    async def fetch(query: str) -> FetchResult | FhirFetchError:
        async with semaphore:
            try:
                return await source.fetch(query)
            except FhirFetchError as exc:
                return exc

    async def one(key: str, query: str) -> FetchResult | FhirFetchError:
        queries = [query, *_logical_queries(query, identifiers, mode)] if identifiers else [query]
        if len(queries) == 1:
            return await fetch(query)
        return _merge(await asyncio.gather(*(fetch(q) for q in queries)))

    tasks = {key: asyncio.ensure_future(one(key, query)) for key, query in to_fetch.items()}
    done, pending = await asyncio.wait(tasks.values(), timeout=total_timeout_seconds)
    for task in pending:
        task.cancel()
    late = f"the FHIR server did not answer within {total_timeout_seconds or 0:g} s"
    outcomes: dict[str, FetchResult | FhirFetchError] = {
        key: task.result() if task in done else FhirFetchTimeout(late) for key, task in tasks.items()
    }
    failed_reads = {key: out for key, out in outcomes.items()
                    if isinstance(out, FhirFetchError) and not _compile(templates[key]).is_search}
    if failed_reads:
        reasons = sorted({str(err) for err in failed_reads.values()})
        if all(str(err) == late for err in failed_reads.values()):
            raise PrefetchUnavailable(sorted(failed_reads), late)
        raise PrefetchUnavailable(sorted(failed_reads), f"could not read from fhirServer ({'; '.join(reasons)})")
    for key, out in outcomes.items():
        template = _compile(templates[key])
        if isinstance(out, FhirFetchError):
            result.incomplete[key] = (template.resource_type, "timeout" if isinstance(out, FhirFetchTimeout) else "failed")
            log.warning("prefetch key %s could not be fetched: %s", key, out)
            continue
        result.fetched.append(key)
        if out.truncated and template.is_search:
            result.truncated.append(key)
            result.incomplete[key] = (template.resource_type, "truncated")
            log.warning("prefetch key %s was cut short by the paging bounds; its resources are not used", key)
            continue
        if template.is_search:
            result.searched.add(template.resource_type)
        result.resources.extend(out.resources)
    return result
