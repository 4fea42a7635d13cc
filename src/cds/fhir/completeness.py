"""The data-quality card: which of the patient's data could not be read in full, in nb or en.

When a search in prefetch resolution was cut short, timed out or failed
(`cds.fhir.prefetch.PrefetchResult.incomplete`), its resources are not used and
its resource type counts as unknown, so rules read "ikke registrert" for what
depended on it. The clinician must be told, or a different answer would be
silent: this card (indicator ``warning``, no suggestions, no links; topic
``data-quality`` of the card-topic code system) names the data that is
missing. It is issued by the service, not a rule, so it appears whatever the
rule set says; it carries no identifier, token or resource content.

Example::

    >>> card = incomplete_data_card({"observations": ("Observation", "truncated")}, "en")
    >>> card["summary"]
    'Incomplete data: observations (CFS, lab results) could not be read in full'
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["REASONS", "TOPIC", "incomplete_data_card"]

#: Why a search is incomplete: cut short by the paging bounds, not answered in time, answered with an error.
REASONS = ("truncated", "timeout", "failed")

TOPIC = "data-quality"
_TOPIC_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/card-topic"

#: How each resource type is named to a clinician.
_NAMES: Mapping[str, tuple[str, str]] = {
    "Observation": ("observasjoner (CFS, laboratoriesvar)", "observations (CFS, lab results)"),
    "Encounter": ("kontakter og innleggelser", "encounters and admissions"),
    "Condition": ("diagnoser", "diagnoses"),
    "Procedure": ("prosedyrer", "procedures"),
    "MedicationStatement": ("legemiddelbruk", "medication use"),
    "MedicationRequest": ("forskrivninger", "prescriptions"),
    "EpisodeOfCare": ("forløp", "episodes of care"),
    "ServiceRequest": ("henvisninger og tjenestebestillinger", "referrals and service requests"),
    "Appointment": ("timeavtaler", "appointments"),
    "Communication": ("meldinger", "messages"),
    "CareTeam": ("behandlingsteam og fastlege", "care teams and GP"),
    "CarePlan": ("planer", "care plans"),
    "DocumentReference": ("dokumenter", "documents"),
    "Flag": ("flagg og varsler", "flags and alerts"),
    "Task": ("oppgaver", "tasks"),
}

_TEXT = {
    "nb": {
        "summary": "Ufullstendige data: {names} kunne ikke hentes helt",
        "detail": (
            "Beslutningsstøtten fikk ikke lest alle {names} fra journalen ({why}). Disse dataene er behandlet "
            "som ukjente (ikke registrert), ikke som fraværende: kort som avhenger av dem kan mangle eller "
            "bygge på et ufullstendig grunnlag. Kontroller journalen direkte, eller prøv igjen."
        ),
        "label": "Datakvalitet",
        "display": "Ufullstendige data",
        "and": "og",
        "truncated": "søket ble avbrutt ved sidegrensen",
        "timeout": "FHIR-serveren svarte ikke i tide",
        "failed": "FHIR-serveren svarte med en feil",
    },
    "en": {
        "summary": "Incomplete data: {names} could not be read in full",
        "detail": (
            "The decision support could not read all {names} from the record ({why}). These data are treated "
            "as unknown (not recorded), not as absent: cards that depend on them may be missing or rest on "
            "incomplete grounds. Check the record directly, or try again."
        ),
        "label": "Data quality",
        "display": "Incomplete data",
        "and": "and",
        "truncated": "the search was cut short at the page limit",
        "timeout": "the FHIR server did not answer in time",
        "failed": "the FHIR server answered with an error",
    },
}


def _join(items: list[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def incomplete_data_card(incomplete: Mapping[str, tuple[str, str]], language: str) -> dict[str, Any]:
    """The card for ``incomplete`` (prefetch key -> (resource type, why)), as CDS Hooks JSON.

    ``why`` is one of `REASONS`: ``truncated``, ``timeout`` or ``failed``.
    """
    text = _TEXT[language]
    index = 0 if language == "nb" else 1
    types = list(dict.fromkeys(rtype for rtype, _ in incomplete.values()))
    names = _join([_NAMES.get(t, (t, t))[index] for t in types], text["and"])
    why = "; ".join(text.get(reason, reason) for reason in sorted({reason for _, reason in incomplete.values()}))
    summary = text["summary"].format(names=names)
    if len(summary) > 140:  # CDS Hooks: summary under 140 characters
        summary = summary[:139] + "…"
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "detail": text["detail"].format(names=names, why=why),
        "indicator": "warning",
        "source": {
            "label": text["label"],
            "topic": {"system": _TOPIC_SYSTEM, "code": TOPIC, "display": text["display"]},
        },
    }
