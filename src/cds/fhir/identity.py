"""Does a resource belong to the patient? One answer for every path (service, ``cds evaluate``, explain, screen).

A resource names its patient in ``subject``, ``patient``, ``beneficiary`` or
``for``: a FHIR Reference that is *literal* (``Patient/<id>``, an absolute URL
ending in it, a ``urn:uuid`` resolved in the Bundle) or *logical*
(``Reference.identifier``: the patient's fødselsnummer, as HL7 Norway's VKP
Observation profiles send it). A logical reference belongs to the patient when
its identifier system is trusted and the Patient resource carries that very
identifier.

Trusted by default: the Norwegian person identifiers of HL7 Norway's
no-basis profile (``no-basis-Patient``, identifier slices FNR, DNR and FHN)::

    urn:oid:2.16.578.1.12.4.1.4.1   fødselsnummer
    urn:oid:2.16.578.1.12.4.1.4.2   D-nummer
    urn:oid:2.16.578.1.12.4.1.4.3   felles hjelpenummer (H-nummer)

More systems (a hospital's own patient number) can be trusted by configuration.

The verdict on one reference is a `Link`. A literal reference to another
patient is left out silently (a Bundle or an export may hold many patients).
Everything else that is left out is *reported*: a logical reference to another
patient's identifier, a fødselsnummer or D-nummer whose check digits are wrong
(never corrected or guessed), an identifier of a system that is not trusted,
a trusted identifier the Patient does not carry any of (cannot be linked), and a
literal reference to the patient whose identifier names someone else.

Example::

    >>> identity = PatientIdentity.of({"resourceType": "Patient", "id": "p1",
    ...     "identifier": [{"system": FNR_SYSTEM, "value": "03854248234"}]})
    >>> identity.link(PatientRef(None, FNR_SYSTEM, "03854248234"))
    <Link.THIS: 'this'>
    >>> identity.link(PatientRef(None, FNR_SYSTEM, "03854248235")).message
    'the fødselsnummer/D-nummer in the patient reference has wrong check digits; left out'
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DNR_SYSTEM",
    "FHN_SYSTEM",
    "FNR_SYSTEM",
    "NATIONAL_SYSTEMS",
    "PATIENT_ELEMENTS",
    "Link",
    "PatientIdentity",
    "PatientRef",
    "check_digits",
    "is_valid_person_number",
    "patient_refs_of_json",
    "patient_refs_of_model",
    "ref_of_json",
    "split_reference",
    "well_formed",
]

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
FHN_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.3"
#: The person identifier systems trusted without configuration (HL7 Norway no-basis-Patient).
NATIONAL_SYSTEMS: frozenset[str] = frozenset({FNR_SYSTEM, DNR_SYSTEM, FHN_SYSTEM})
#: Systems whose values carry two mod-11 check digits (fødselsnummer, D-nummer).
_CHECKED_SYSTEMS = frozenset({FNR_SYSTEM, DNR_SYSTEM})

#: The JSON elements that name a resource's patient, in the order they are read.
PATIENT_ELEMENTS = ("subject", "patient", "beneficiary", "for")

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def check_digits(first_nine: str) -> str | None:
    """The two mod-11 control digits of a fødselsnummer/D-nummer for its first nine digits (None: none exist)."""
    digits = [int(c) for c in first_nine]
    k1 = (11 - sum(w * d for w, d in zip(_WEIGHTS_1, digits, strict=True)) % 11) % 11
    if k1 == 10:
        return None
    k2 = (11 - sum(w * d for w, d in zip(_WEIGHTS_2, [*digits, k1], strict=True)) % 11) % 11
    if k2 == 10:
        return None
    return f"{k1}{k2}"


def is_valid_person_number(number: str) -> bool:
    """Eleven digits with correct control digits (a fødselsnummer or D-nummer; the date is not checked)."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return False
    return check_digits(number[:9]) == number[9:]


def well_formed(system: str | None, value: str) -> bool:
    """False for a fødselsnummer or D-nummer whose control digits are wrong; other systems are not checked."""
    return system not in _CHECKED_SYSTEMS or is_valid_person_number(value)


def split_reference(reference: str | None) -> tuple[str, str] | None:
    """'Patient/1', 'https://x/fhir/Patient/1' or '.../Patient/1/_history/2' -> ('Patient', '1')."""
    if not reference:
        return None
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-1] or not parts[-2] or not parts[-2][:1].isupper():
        return None
    return parts[-2], parts[-1]


@dataclass(frozen=True, slots=True)
class PatientRef:
    """What one Reference element says about the patient: its literal reference and/or its identifier."""

    reference: str | None
    system: str | None = None
    value: str | None = None

    @property
    def logical(self) -> bool:
        return self.value is not None


def _ref_from_parts(reference: Any, identifier: Any) -> PatientRef | None:
    ref = reference if isinstance(reference, str) and reference else None
    system = value = None
    if identifier is not None:
        raw_system = identifier.get("system") if isinstance(identifier, Mapping) else getattr(identifier, "system", None)
        raw_value = identifier.get("value") if isinstance(identifier, Mapping) else getattr(identifier, "value", None)
        if isinstance(raw_value, str) and raw_value.strip():
            value = raw_value.strip()
            system = raw_system if isinstance(raw_system, str) and raw_system else None
    if ref is None and value is None:
        return None
    return PatientRef(ref, system, value)


def ref_of_json(element: Any) -> PatientRef | None:
    """One Reference (JSON) as a `PatientRef`; None when it has neither a reference nor an identifier value."""
    if not isinstance(element, Mapping):
        return None
    return _ref_from_parts(element.get("reference"), element.get("identifier"))


def patient_refs_of_json(resource: Mapping[str, Any]) -> tuple[PatientRef, ...]:
    """The patient references of a resource as JSON, in `PATIENT_ELEMENTS` order."""
    out = []
    for name in PATIENT_ELEMENTS:
        element = resource.get(name)
        if isinstance(element, Mapping):
            found = _ref_from_parts(element.get("reference"), element.get("identifier"))
            if found is not None:
                out.append(found)
    return tuple(out)


def patient_refs_of_model(references: Iterable[Any]) -> tuple[PatientRef, ...]:
    """The patient references among parsed Reference models (None entries skipped)."""
    out = []
    for element in references:
        if element is None:
            continue
        found = _ref_from_parts(getattr(element, "reference", None), getattr(element, "identifier", None))
        if found is not None:
            out.append(found)
    return tuple(out)


class Link(enum.Enum):
    """The verdict on one patient reference."""

    #: names this patient
    THIS = "this"
    #: a literal reference to another patient (left out without a report: bundles hold many patients)
    OTHER = "other"
    #: names no patient (a Group, a Device, ...): the next element decides
    NONE = "none"
    #: left out and reported:
    OTHER_IDENTIFIER = "other-identifier"
    MALFORMED = "malformed"
    UNTRUSTED = "untrusted"
    UNLINKABLE = "unlinkable"
    CONFLICT = "conflict"

    @property
    def reported(self) -> bool:
        return self not in (Link.THIS, Link.OTHER, Link.NONE)

    @property
    def message(self) -> str:
        """What the data-quality report says (no identifier value, no personal data)."""
        return _MESSAGES.get(self, "")


_MESSAGES = {
    Link.OTHER_IDENTIFIER: "refers by identifier to another patient; left out",
    Link.MALFORMED: "the fødselsnummer/D-nummer in the patient reference has wrong check digits; left out",
    Link.UNTRUSTED: (
        "refers to the patient by an identifier system that is not trusted; left out "
        "(add the system to the trusted identifier systems if it identifies patients)"
    ),
    Link.UNLINKABLE: "refers to the patient by an identifier the Patient resource does not carry; left out",
    Link.CONFLICT: "its literal patient reference and its identifier name different patients; left out",
}


class PatientIdentity:
    """The patient a call is about: its id, and the trusted identifiers its Patient resource carries.

    ``resolve`` (optional) resolves a literal reference (``urn:uuid:...``, a
    fullUrl) to a parsed resource or JSON dict within the same data.
    """

    __slots__ = ("identifiers", "patient_id", "resolve", "systems", "trusted")

    def __init__(
        self,
        patient_id: str,
        identifiers: Iterable[tuple[str, str]] = (),
        *,
        trusted: Collection[str] = NATIONAL_SYSTEMS,
        resolve: Callable[[str], Any] | None = None,
    ) -> None:
        self.patient_id = patient_id
        self.trusted = frozenset(trusted) | NATIONAL_SYSTEMS
        self.identifiers = frozenset((s, v) for s, v in identifiers if s in self.trusted)
        self.systems = frozenset(s for s, _ in self.identifiers)
        self.resolve = resolve

    @classmethod
    def of(
        cls,
        patient: Any,
        *,
        patient_id: str | None = None,
        trusted: Collection[str] = NATIONAL_SYSTEMS,
        resolve: Callable[[str], Any] | None = None,
    ) -> PatientIdentity:
        """From a Patient (JSON dict or parsed model, or None when it is not in the data)."""
        pid = patient_id
        if pid is None:
            raw = patient.get("id") if isinstance(patient, Mapping) else getattr(patient, "id", None)
            pid = raw if isinstance(raw, str) else ""
        return cls(pid, identifiers_of(patient), trusted=trusted, resolve=resolve)

    @property
    def key(self) -> tuple[str, frozenset[tuple[str, str]], frozenset[str]]:
        """What verdicts depend on besides the reference (for memo keys)."""
        return self.patient_id, self.identifiers, self.trusted

    def link(self, ref: PatientRef) -> Link:
        """The verdict on one patient reference (see `Link`)."""
        literal = self._literal(ref.reference) if ref.reference is not None else Link.NONE
        if not ref.logical:
            return literal
        logical = self._logical(ref.system, ref.value or "")
        if literal is Link.NONE:
            return logical
        if literal is Link.THIS and logical in (Link.OTHER_IDENTIFIER, Link.MALFORMED):
            return Link.CONFLICT
        return literal

    def _literal(self, reference: str) -> Link:
        if reference == f"Patient/{self.patient_id}":
            return Link.THIS
        if self.resolve is not None:
            target = self.resolve(reference)
            if target is not None:
                rtype = target.get("resourceType") if isinstance(target, Mapping) else getattr(
                    target, "__resource_type__", None
                )
                if rtype != "Patient":
                    return Link.NONE
                rid = target.get("id") if isinstance(target, Mapping) else getattr(target, "id", None)
                return Link.THIS if rid == self.patient_id else Link.OTHER
        split = split_reference(reference)
        if split is not None and split[0] == "Patient":
            return Link.THIS if split[1] == self.patient_id else Link.OTHER
        return Link.NONE

    def _logical(self, system: str | None, value: str) -> Link:
        if system is None or system not in self.trusted:
            return Link.UNTRUSTED
        if not well_formed(system, value):
            return Link.MALFORMED
        if (system, value) in self.identifiers:
            return Link.THIS
        if system in self.systems:  # the patient has a number of this kind, and this one is not it
            return Link.OTHER_IDENTIFIER
        # e.g. a D-nummer for a patient known by fødselsnummer: possibly the same person before, never assumed
        return Link.UNLINKABLE

    def among_participants(self, actors: Iterable[PatientRef]) -> bool:
        """An Appointment's participants: it is this patient's unless its participants name only other patients.

        A participant named by an identifier of an untrusted system (a
        practitioner's HPR number, say) names no patient here.
        """
        named = False
        for actor in actors:
            if actor.logical and not actor.reference and actor.system not in self.trusted:
                continue
            verdict = self.link(actor)
            if verdict is Link.THIS:
                return True
            named = named or verdict is not Link.NONE
        return not named

    def belongs(self, refs: Iterable[PatientRef]) -> Link:
        """The verdict on a resource from its patient references in order: the first that names a patient.

        A resource with no patient reference at all (`Link.NONE`) is not about another patient.
        """
        for ref in refs:
            verdict = self.link(ref)
            if verdict is not Link.NONE:
                return verdict
        return Link.NONE


def identifiers_of(patient: Any) -> list[tuple[str, str]]:
    """(system, value) of every identifier of a Patient (JSON dict or parsed model) that has both."""
    if patient is None:
        return []
    raw = patient.get("identifier") if isinstance(patient, Mapping) else getattr(patient, "identifier", None)
    out = []
    for identifier in raw or ():
        if isinstance(identifier, Mapping):
            system, value = identifier.get("system"), identifier.get("value")
        else:
            system, value = getattr(identifier, "system", None), getattr(identifier, "value", None)
        if isinstance(system, str) and isinstance(value, str) and value.strip():
            out.append((system, value.strip()))
    return out
