"""What every fact group needs while building one snapshot: the data, the clock and small FHIR helpers.

The helpers read R4B models defensively: any element may be missing, a
date may be partial ('1942' or '1942-03'), a reference may be relative,
absolute or a urn:uuid.

Work kept across builds. Parsed models are shared between calls (the parse
cache), so what is derived from them alone is kept with them and a build only
adds what depends on its clock, patient, encounter and the rest of its data:

* per resource (`BuildContext.memo`, `IdentityMemo`): headers (voided? which
  patient references?), value sets of codings, pure per-resource facts;
* per type (`_Kind`, `_View`, found through the call's chart: `ItemsMemo`
  keyed by the identities of the resources): the non-voided resources, the
  patient's among them (keyed by the verdicts on their distinct patient
  references), value-set indexes, and pure derivations of a fact group
  (`BuildContext.derived`);
* a `Timeline` per derivation that asks "in the current contact?": one
  `ContactKey` per build answers it for every resource.

Nothing that depends on the clock, the patient, the encounter or the rest of
the data is kept without those inputs in its key (``bench/compare_facts.py``
and ``tests/facts/test_build_memo.py`` check it).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any, TypeVar

from cds.facts.memo import IdentityMemo, ItemsMemo
from cds.facts.snapshot import Coding
from cds.fhir.identity import (
    NATIONAL_SYSTEMS,
    Link,
    PatientIdentity,
    PatientRef,
    patient_refs_of_model,
    split_reference,
)
from cds.fhir.resources import ResourceIssue, ResourceSet
from cds.terminology import Terminology

__all__ = [
    "BuildContext",
    "ContactKey",
    "Timeline",
    "as_date",
    "as_datetime",
    "codes_of",
    "codings_of",
    "element",
    "in_utc",
    "reference_of",
    "snapshot_coding",
    "split_reference",
]

#: The elements that name a resource's patient, in the order they are read.
_PATIENT_ELEMENTS = ("subject", "patient", "beneficiary", "for_fhir")

#: Statuses that mean "this never happened / was recorded by mistake" on any resource.
VOID_STATUSES = frozenset({"entered-in-error", "cancelled", "revoked", "not-done", "refuted"})

_MEMO = IdentityMemo()
#: Resources held by the kinds kept (the resources of one type in a call): some 50 charts of 200.
_KIND_MEMO_ITEMS = 10_000
_KINDS = ItemsMemo(_KIND_MEMO_ITEMS)
#: Resources held by the charts kept (all the resources of a call, to find the kinds with one lookup).
_CHART_MEMO_ITEMS = 10_000
_CHARTS = ItemsMemo(_CHART_MEMO_ITEMS)
_UNSEEN = object()
#: Distinct (system, code, display) triples kept as shared snapshot Codings.
_CODING_CACHE_SIZE = 16_384
T = TypeVar("T")

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def element(model: Any, name: str) -> Any:
    """The element ``name`` of a parsed FHIR model, None when unset or when the model's type has no such element.

    ``getattr(model, name, None)`` costs ~20 us on an R4B model whose type lacks
    the element (pydantic raises and formats an AttributeError), a dict lookup
    ~0.1 us: pydantic keeps every field value in the instance ``__dict__``.
    """
    try:
        return model.__dict__.get(name)
    except AttributeError:  # None, or not a model
        return None


def reference_of(ref: Any) -> str | None:
    """The reference string of a Reference model (or None)."""
    value = getattr(ref, "reference", None)
    return value if isinstance(value, str) and value else None


def codings_of(*concepts: Any) -> tuple[Coding, ...]:
    """Every coding of one or more CodeableConcepts (or lists of them) as snapshot Codings."""
    out: list[Coding] = []
    for concept in concepts:
        for item in concept if isinstance(concept, list | tuple) else (concept,):
            for coding in getattr(item, "coding", None) or ():
                code = coding.code
                if code:
                    out.append(snapshot_coding(coding.system, code, coding.display))
    return tuple(out)


def codes_of(*concepts: Any) -> list[str]:
    """The codes (only) of `codings_of`, in order: for status and class checks that need no Coding objects."""
    out: list[str] = []
    for concept in concepts:
        for item in concept if isinstance(concept, list | tuple) else (concept,):
            for coding in getattr(item, "coding", None) or ():
                if coding.code:
                    out.append(coding.code)
    return out


@lru_cache(maxsize=_CODING_CACHE_SIZE)
def snapshot_coding(system: str | None, code: str, display: str | None) -> Coding:
    """The snapshot Coding of (system, code, display), shared between facts and builds.

    Codings are frozen, and the same few codes recur across resources and
    patients, so one instance per distinct triple saves building (and
    validating) the same object hundreds of times per snapshot. The values
    come from validated FHIR models; `lru_cache` keeps it bounded and thread-safe.
    """
    return Coding(system=system, code=code, display=display)


def concept_text(concept: Any) -> str | None:
    """CodeableConcept.text, else the first coding's display."""
    if concept is None:
        return None
    text = getattr(concept, "text", None)
    if text:
        return text
    for coding in getattr(concept, "coding", None) or ():
        if coding.display:
            return coding.display
    return None


def as_date(value: Any) -> date | None:
    """A FHIR date/dateTime/instant (possibly partial: '1942', '1942-03') as a date; partial -> first day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        match = _PARTIAL_DATE.match(value)
        if match:
            year, month, day = match.groups()
            try:
                return date(int(year), int(month or 1), int(day or 1))
            except ValueError:
                return None
    return None


def as_datetime(value: Any, tz: Any) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime; dates become midnight in the clock's zone."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    day = as_date(value)
    if day is None:
        return None
    return datetime.combine(day, time(0, 0), tzinfo=tz)


@dataclass(slots=True)
class _Header:
    """What every build reads of one resource, worked out once per (resource, terminology).

    One memo lookup per resource and build then replaces reading status,
    references and codings again (see `BuildContext.of_type`).
    """

    void: bool
    #: the references (literal and/or by identifier) in subject, patient, beneficiary and for, in that order
    patient_refs: tuple[PatientRef, ...]
    #: for an Appointment with participants: their actors' references (else None)
    participant_patients: tuple[PatientRef, ...] | None
    #: value-set ids of the codings in the named elements, filled on first use
    valuesets: dict[tuple[str, ...], frozenset[str]]


def _header_of(resource: Any) -> _Header:
    refs = patient_refs_of_model(element(resource, attr) for attr in _PATIENT_ELEMENTS)
    participants = element(resource, "participant")
    patients = None
    if getattr(resource, "__resource_type__", None) == "Appointment" and participants:
        patients = patient_refs_of_model(p.actor for p in participants)
    return _Header(
        void=_status(resource) in VOID_STATUSES,
        patient_refs=refs,
        participant_patients=patients,
        valuesets={},
    )


def _header_valuesets(
    terminology: Terminology, resource: Any, header: _Header, attrs: tuple[str, ...]
) -> frozenset[str]:
    found = header.valuesets.get(attrs)
    if found is None:
        found = header.valuesets[attrs] = _valuesets_of(terminology, resource, attrs)
    return found


@dataclass(slots=True)
class _Kind:
    """The resources of one type in a call, worked out once per (the same models in the same order, terminology).

    See `BuildContext._view`.
    """

    #: the resources that are not voided, with their headers, in input order
    live: tuple[tuple[Any, _Header], ...]
    #: the distinct patient references among them, in order of first use
    refs: tuple[PatientRef, ...]
    #: whether an Appointment among them names its patients as participants (then the patient's id matters)
    participants: bool
    #: by (patient identity if ``participants``, verdicts on ``refs``): the patient's resources among them
    views: dict[tuple[Any, tuple[Link, ...]], _View]


@dataclass(slots=True)
class _View:
    """One patient's resources of one type (what `BuildContext.of_type` returns) and what builds derive from them.

    Shared by every build that sees the same resources for the same patient:
    read-only once published, and each lookup is built whole before it is
    stored (two threads may both build one; they build the same).
    """

    resources: tuple[Any, ...]
    #: header by resource id (the `_Kind` keeps the resources alive)
    headers: dict[int, _Header]
    #: by element names: the resources by value set of those elements' codings
    indexes: dict[tuple[str, ...], dict[str, tuple[Any, ...]]]
    #: pure derivations of the resources, see `BuildContext.derived`
    derived: dict[Any, Any]
    #: the resources left out with a report (a logical reference to another patient, ...), see `Link`
    excluded: tuple[tuple[Any, Link], ...] = ()


def _kind_of(resources: list[Any], header_key: Any) -> _Kind:
    live = []
    refs: dict[PatientRef, None] = {}
    participants = False
    for resource in resources:
        header = _MEMO.get(resource, header_key, _header_of, resource)
        if not header.void:
            live.append((resource, header))
            refs.update(dict.fromkeys(header.patient_refs))
            participants = participants or header.participant_patients is not None
    return _Kind(live=tuple(live), refs=tuple(refs), participants=participants, views={})


def _valuesets_of(terminology: Terminology, resource: Any, attrs: tuple[str, ...]) -> frozenset[str]:
    found: set[str] = set()
    for attr in attrs:
        value = element(resource, attr)
        for concept in value if isinstance(value, list) else (value,):
            for coding in getattr(concept, "coding", None) or ():
                if coding.system and coding.code:
                    found |= terminology.memberships_of(coding.system, coding.code)
    return frozenset(found)


def _codings_of_elements(resource: Any, attrs: tuple[str, ...]) -> tuple[Coding, ...]:
    return codings_of(*(element(resource, a) for a in attrs))


@dataclass(frozen=True, slots=True)
class Timeline:
    """Resources placed by their encounter reference and a moment, to tell which belong to the current contact.

    A pure derivation of the resources (kept across builds with them, see
    `BuildContext.derived`): a build reduces "in the current contact" for all of
    them to `BuildContext.contact_key`, the references that name the current
    encounter and the slice of the dated moments within its span.
    """

    #: per resource: its encounter reference
    refs: tuple[str | None, ...]
    #: per resource: the position of its moment among ``moments`` (None: undated)
    ranks: tuple[int | None, ...]
    #: the moments of the dated resources in UTC (`in_utc`), ascending
    moments: tuple[datetime, ...]
    #: the distinct references
    distinct: tuple[str, ...]

    @classmethod
    def of(cls, placed: Iterable[tuple[str | None, datetime | None]]) -> Timeline:
        """From (encounter reference, moment) per resource, in order."""
        rows = [(ref, in_utc(moment) if moment is not None else None) for ref, moment in placed]
        dated = sorted((i for i, (_, moment) in enumerate(rows) if moment is not None), key=lambda i: rows[i][1])
        ranks: list[int | None] = [None] * len(rows)
        for rank, i in enumerate(dated):
            ranks[i] = rank
        return cls(
            refs=tuple(ref for ref, _ in rows),
            ranks=tuple(ranks),
            moments=tuple(rows[i][1] for i in dated),  # type: ignore[misc]
            distinct=tuple(dict.fromkeys(ref for ref, _ in rows if ref is not None)),
        )

    def in_contact(self, key: ContactKey, position: int) -> bool:
        """Does the resource at ``position`` belong to the current contact (as `BuildContext.in_current_contact`)?"""
        current, first, end = key
        rank = self.ranks[position]
        return self.refs[position] in current or (rank is not None and first <= rank < end)


#: (the references naming the current encounter, the slice of `Timeline.moments` within its span)
ContactKey = tuple[frozenset[str], int, int]


def in_utc(moment: datetime) -> datetime:
    """The same instant in UTC: cheap to compare with other UTC datetimes (see `BuildContext._span_utc`)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # within hours of year 1 or 9999: kept as is, compares correctly (only slower)
        return moment


@dataclass
class BuildContext:
    """The inputs of one snapshot build plus lookups shared by the fact groups."""

    resources: ResourceSet
    patient_id: str
    encounter_id: str | None
    now: datetime
    terminology: Terminology
    searched: Collection[str] | None = None
    issues: list[ResourceIssue] = field(default_factory=list)
    #: the clinical zone (`cds.clinicaltime`): dates are its midnights, moments convert to its calendar
    zone: Any = None
    #: identifier systems a logical patient reference may use (the national ones always), see `cds.fhir.identity`
    trusted_systems: Collection[str] = NATIONAL_SYSTEMS
    _by_type: dict[str, tuple[Any, ...]] = field(default_factory=dict, repr=False)
    # per build: the `_View` of each type read
    _views: dict[str, _View] = field(default_factory=dict, repr=False)
    # looked up once per build (what nearly every fact group reads)
    tz: Any = field(init=False, repr=False)
    patient: Any | None = field(init=False, repr=False)
    encounter: Any | None = field(init=False, repr=False)
    encounter_start: datetime | None = field(init=False, repr=False)
    encounter_end: datetime | None = field(init=False, repr=False)
    #: the current encounter's start and end (or `now`) in UTC, see `__post_init__`
    _span_utc: tuple[datetime, datetime] | None = field(init=False, repr=False)
    identity: PatientIdentity = field(init=False, repr=False)
    _encounter_ref: str = field(init=False, repr=False)
    #: memo key of resource headers: the terminology (a reload is another object and digest)
    _header_key: tuple[str, int, str] = field(init=False, repr=False)
    #: the `_Kind` of each type read, shared by every build over the same resources (all of them, in
    #: the same order: then each type holds the same ones) and terminology; filled on first use
    _chart: dict[str, _Kind] = field(init=False, repr=False)
    # per build: `known` by resource type
    _known: dict[str, bool] = field(default_factory=dict, repr=False)
    # per build: the headers of the patient's resources (by id; the ResourceSet keeps them alive)
    _headers: dict[int, _Header] = field(default_factory=dict, repr=False)
    # per build: what a reference string resolves to (many resources share a few references)
    _patient_verdicts: dict[PatientRef, Link] = field(default_factory=dict, repr=False)
    _encounter_verdicts: dict[str, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Work out once what nearly every fact group reads (plain attributes: no lock per first access).

        ``_span_utc``: two aware datetimes with the same tzinfo object compare in
        ~25 ns; with different ones each side's utcoffset() is called, ~0.7 us for
        the pydantic TzInfo of parsed FHIR datetimes. Same instants, same order.
        """
        self.tz = self.zone if self.zone is not None else self.now.tzinfo
        self.patient = self.resources.get("Patient", self.patient_id)
        self.encounter = self.resources.get("Encounter", self.encounter_id) if self.encounter_id is not None else None
        period = getattr(self.encounter, "period", None)
        self.encounter_start = as_datetime(getattr(period, "start", None), self.tz)
        self.encounter_end = as_datetime(getattr(period, "end", None), self.tz)
        self._span_utc = None
        if self.encounter_start is not None:
            self._span_utc = (in_utc(self.encounter_start), in_utc(self.encounter_end or self.now))
        self.identity = PatientIdentity.of(
            self.patient, patient_id=self.patient_id, trusted=self.trusted_systems, resolve=self.resources.resolve
        )
        self._encounter_ref = f"Encounter/{self.encounter_id}"
        self._header_key = ("header", id(self.terminology), self.terminology.digest)
        everything: list[Any] = []
        for resource_type in self.resources.resource_types():  # cheaper than iterating the set
            everything += self.resources.of_type(resource_type)
        self._chart = _CHARTS.get(everything, self._header_key, dict)

    # -- data availability --------------------------------------------------------
    def known(self, *resource_types: str) -> bool:
        """True when the absence of these types in the data means 'none exist' rather than 'not fetched'.

        A type is known when the caller says its search ran (``searched``, from
        prefetch resolution), when a searchset Bundle's ``self`` link says so
        (`ResourceSet.searched`), or when at least one resource of the type is
        present; never when its search was cut short or failed
        (`ResourceSet.incomplete`).
        """
        return all(self._known_type(t) for t in resource_types)

    def _known_type(self, resource_type: str) -> bool:
        known = self._known.get(resource_type)
        if known is None:
            known = self._known[resource_type] = resource_type not in self.resources.incomplete and (
                (self.searched is not None and resource_type in self.searched)
                or resource_type in self.resources.searched
                or bool(self.resources.of_type(resource_type))
            )
        return known

    def issue(self, resource: Any, message: str) -> None:
        """Report a problem with one resource (type, id and a message without personal data)."""
        self.issues.append(
            ResourceIssue(getattr(resource, "__resource_type__", None), getattr(resource, "id", None), message)
        )

    # -- the patient's resources ------------------------------------------------
    def of_type(self, resource_type: str) -> tuple[Any, ...]:
        """The patient's resources of one type, without voided ones (entered-in-error, cancelled, ...)."""
        found = self._by_type.get(resource_type)
        if found is None:
            view = self._view(resource_type)
            found = self._by_type[resource_type] = view.resources
            self._headers.update(view.headers)
        return found

    def _view(self, resource_type: str) -> _View:
        """The `_View` of a type for this patient: from the memo when the same resources were seen before.

        The resources of a type (the same parsed models in the same order: the
        parse cache) give the same `_Kind`; which of them are the patient's
        depends on this build only through the verdicts on their few distinct
        patient references (and the patient's id), the key of its views.
        """
        view = self._views.get(resource_type)
        if view is None:
            kind = self._chart.get(resource_type)
            if kind is None:
                resources = self.resources.of_type(resource_type)
                kind = _KINDS.get(resources, (resource_type, self._header_key), _kind_of, resources, self._header_key)
                kind = self._chart.setdefault(resource_type, kind)
            key = (self.identity.key if kind.participants else None, tuple(self._verdict(ref) for ref in kind.refs))
            view = kind.views.get(key)
            if view is None:
                view = kind.views.setdefault(key, self._select(kind))
            self._views[resource_type] = view
            for resource, verdict in view.excluded:
                self.issue(resource, verdict.message)
        return view

    def _select(self, kind: _Kind) -> _View:
        chosen = []
        excluded = []
        for resource, header in kind.live:
            verdict = self._link(header)
            if verdict.reported:
                excluded.append((resource, verdict))
            elif self._belongs(header, verdict):
                chosen.append((resource, header))
        return _View(
            resources=tuple(resource for resource, _ in chosen),
            headers={id(resource): header for resource, header in chosen},
            indexes={},
            derived={},
            excluded=tuple(excluded),
        )

    def valuesets(self, resource: Any, *attrs: str) -> frozenset[str]:
        """Value-set ids of every coding in the named CodeableConcept elements of a resource (memoised)."""
        header = self._headers.get(id(resource))
        if header is None:  # not one of the patient's resources (or an element of one)
            header = _MEMO.get(resource, self._header_key, _header_of, resource)
        return _header_valuesets(self.terminology, resource, header, attrs)

    #: ``memo(resource, key, compute, *args)``: memoise a pure derivation ``compute(*args)`` of one
    #: resource across builds (the key must hold every other input); see `IdentityMemo`.
    memo = staticmethod(_MEMO.get)

    def derived(self, resource_type: str, key: Any, compute: Callable[..., T], *args: Any) -> T:
        """Memoise ``compute(*args)``, a pure derivation of the patient's resources of one type, across builds.

        Kept with the type's `_View` (the same resources, the same patient), so
        ``key`` must hold every other input (the terminology is part of the view).
        """
        derived = self._view(resource_type).derived
        found = derived.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = derived.setdefault(key, compute(*args))
        return found  # type: ignore[no-any-return]

    def codings(self, resource: Any, *attrs: str) -> tuple[Coding, ...]:
        """`codings_of` the named elements of a resource (memoised per resource)."""
        return _MEMO.get(resource, ("codings", attrs), _codings_of_elements, resource, attrs)

    def with_valueset(self, resource_type: str, value_set: str, *attrs: str) -> tuple[Any, ...]:
        """The patient's resources of a type whose named elements hold a code in the value set (indexed)."""
        view = self._view(resource_type)
        index = view.indexes.get(attrs)
        if index is None:
            index = view.indexes.setdefault(attrs, self._index(view, attrs))
        return index.get(value_set, ())

    def _index(self, view: _View, attrs: tuple[str, ...]) -> dict[str, tuple[Any, ...]]:
        """The resources of a view by the value sets of the named elements (built whole, then shared)."""
        index: dict[str, list[Any]] = {}
        for resource in view.resources:
            for vs in _header_valuesets(self.terminology, resource, view.headers[id(resource)], attrs):
                index.setdefault(vs, []).append(resource)
        return {vs: tuple(found) for vs, found in index.items()}

    def has(self, resource: Any, value_set: str, *attrs: str) -> bool:
        """Does any coding of these elements belong to the value set?"""
        return value_set in self.valuesets(resource, *attrs)

    def belongs_to_patient(self, resource: Any) -> bool:
        """False when the resource refers to another patient or cannot be linked to this one (`cds.fhir.identity`)."""
        header = _MEMO.get(resource, self._header_key, _header_of, resource)
        return self._belongs(header, self._link(header))

    def _link(self, header: _Header) -> Link:
        """The verdict on a resource's patient references: the first that names a patient decides."""
        for ref in header.patient_refs:
            verdict = self._verdict(ref)
            if verdict is not Link.NONE:
                return verdict
        return Link.NONE

    def _belongs(self, header: _Header, verdict: Link) -> bool:
        if verdict is not Link.NONE:
            return verdict is Link.THIS
        if header.participant_patients is not None:
            return self.identity.among_participants(header.participant_patients)
        return True

    def _verdict(self, ref: PatientRef) -> Link:
        """`PatientIdentity.link`, once per build and distinct reference."""
        verdict = self._patient_verdicts.get(ref)
        if verdict is None:
            verdict = self._patient_verdicts[ref] = self.identity.link(ref)
        return verdict

    # -- the current contact ----------------------------------------------------
    def refers_to_current_encounter(self, resource: Any, attr: str = "encounter") -> bool:
        return self.is_current_encounter(reference_of(element(resource, attr)))

    def is_current_encounter(self, ref: str | None) -> bool:
        """Does this reference string point to the current encounter?"""
        if ref is None or self.encounter_id is None:
            return False
        verdict = self._encounter_verdicts.get(ref)
        if verdict is None:
            verdict = self._encounter_verdicts[ref] = self._is_current_encounter(ref)
        return verdict

    def _is_current_encounter(self, ref: str) -> bool:
        if ref == self._encounter_ref:
            return True
        target = self.resources.resolve(ref)
        if target is not None:
            return getattr(target, "__resource_type__", None) == "Encounter" and target.id == self.encounter_id
        split = split_reference(ref)
        return split == ("Encounter", self.encounter_id)

    def contact_key(self, timeline: Timeline) -> ContactKey:
        """What decides, for every resource of a `Timeline`, whether it belongs to the current contact."""
        current = frozenset(ref for ref in timeline.distinct if self.is_current_encounter(ref))
        span = self._span_utc
        if span is None:
            return current, 0, 0
        return current, bisect_left(timeline.moments, span[0]), bisect_right(timeline.moments, span[1])

    @property
    def current_span_utc(self) -> tuple[datetime, datetime] | None:
        """The current encounter's start and its end (or `now`) in UTC; None without a start."""
        return self._span_utc

    def within_current_encounter(self, moment: datetime | None) -> bool:
        """The moment lies between the current encounter's start and its end (or `now`).

        Pass a moment already in UTC (`in_utc`) where one is memoised: see `_span_utc`.
        """
        span = self._span_utc
        if moment is None or span is None:
            return False
        return span[0] <= moment <= span[1]

    def in_current_contact(self, resource: Any, moment: datetime | None) -> bool:
        """Linked to the current encounter, or dated within it."""
        return self.refers_to_current_encounter(resource) or self.within_current_encounter(moment)

    # -- terminology shortcuts -----------------------------------------------------
    def in_valueset(self, value_set: str, codings: Iterable[Coding]) -> bool:
        return self.terminology.contains_any(value_set, codings)

    def first_match(self, prefix: str, codings: Iterable[Coding]) -> str | None:
        return self.terminology.first_match(prefix, codings)


def _status(resource: Any) -> str | None:
    status = element(resource, "status")
    if status is None:
        verification = element(resource, "verificationStatus")
        codes = [c.code for c in getattr(verification, "coding", None) or ()]
        return "refuted" if "refuted" in codes else ("entered-in-error" if "entered-in-error" in codes else None)
    return status
