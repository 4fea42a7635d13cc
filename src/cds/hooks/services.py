"""The CDS services this engine offers: id, hook, texts, required context and prefetch templates.

One `ServiceDefinition` per service; `SERVICES` is the catalogue the discovery
endpoint publishes and the call endpoint dispatches on. Prefetch templates ask
for exactly the resource types the fact builder reads
(`cds.fhir.resources.ENGINE_RESOURCE_TYPES`), always scoped to the patient in
context.

A template that names a context field the call does not carry (for example
``{{context.encounterId}}`` in a ``patient-view`` call for a patient who is not
admitted) is simply not needed for that call: a client cannot fill it, and the
service does not ask the FHIR server for it either.

Example::

    >>> SERVICES_BY_ID["discharge-pathway"].hook
    'encounter-discharge'
    >>> "patient" in SERVICES_BY_ID["frailty-admission"].prefetch
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from cds.hooks.models import Discovery, ServiceDescription

__all__ = [
    "HOOK_REQUIRED_CONTEXT",
    "PREFETCH_TEMPLATES",
    "SERVICES",
    "SERVICES_BY_ID",
    "ServiceDefinition",
    "discovery",
]

#: Context fields each hook requires (HL7 CDS Hooks Library 1.0.1).
HOOK_REQUIRED_CONTEXT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "patient-view": ("userId", "patientId"),
        "encounter-start": ("userId", "patientId", "encounterId"),
        "encounter-discharge": ("userId", "patientId", "encounterId"),
        "order-sign": ("userId", "patientId", "draftOrders"),
    }
)

_PATIENT = "{{context.patientId}}"
_PAGE = "_count=100"

#: Prefetch key -> FHIR query template. Reads first, then patient-scoped searches.
PREFETCH_TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "patient": f"Patient/{_PATIENT}",
        "encounter": "Encounter/{{context.encounterId}}",
        "encounters": f"Encounter?patient={_PATIENT}&{_PAGE}",
        "conditions": f"Condition?patient={_PATIENT}&{_PAGE}",
        "observations": f"Observation?patient={_PATIENT}&{_PAGE}",
        "procedures": f"Procedure?patient={_PATIENT}&{_PAGE}",
        "medicationStatements": f"MedicationStatement?patient={_PATIENT}&{_PAGE}",
        "medicationRequests": f"MedicationRequest?patient={_PATIENT}&{_PAGE}",
        "episodesOfCare": f"EpisodeOfCare?patient={_PATIENT}&{_PAGE}",
        "serviceRequests": f"ServiceRequest?patient={_PATIENT}&{_PAGE}",
        "appointments": f"Appointment?patient={_PATIENT}&{_PAGE}",
        "communications": f"Communication?patient={_PATIENT}&{_PAGE}",
        "careTeams": f"CareTeam?patient={_PATIENT}&{_PAGE}",
        "carePlans": f"CarePlan?patient={_PATIENT}&{_PAGE}",
        "documentReferences": f"DocumentReference?patient={_PATIENT}&{_PAGE}",
        "flags": f"Flag?patient={_PATIENT}&{_PAGE}",
        "tasks": f"Task?patient={_PATIENT}&{_PAGE}",
    }
)


@dataclass(frozen=True)
class ServiceDefinition:
    """One CDS service: what discovery publishes and what a call must carry."""

    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str] = field(default_factory=lambda: PREFETCH_TEMPLATES)
    usage_requirements: str | None = None

    @property
    def required_context(self) -> tuple[str, ...]:
        """Context fields a call to this service must carry."""
        return HOOK_REQUIRED_CONTEXT.get(self.hook, ("userId", "patientId"))

    def describe(self) -> ServiceDescription:
        """The discovery entry for this service."""
        return ServiceDescription(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description,
            prefetch=dict(self.prefetch),
            usageRequirements=self.usage_requirements,
        )


_USAGE = (
    "Send the prefetch keys you can fill; keys left out are read from fhirServer with "
    "fhirAuthorization. A null prefetch value means 'no such data' and is not fetched."
)

SERVICES: tuple[ServiceDefinition, ...] = (
    ServiceDefinition(
        id="frailty-patient-view",
        hook="patient-view",
        title="Frailty status and readmission risk",
        description=(
            "When a patient chart is opened: shows whether a Clinical Frailty Scale (CFS) "
            "assessment is due, the current frailty status and, for inpatients, the "
            "readmission risk."
        ),
        usage_requirements=_USAGE,
    ),
    ServiceDefinition(
        id="frailty-admission",
        hook="encounter-start",
        title="Frailty screening at admission",
        description=(
            "At admission: CFS screening due, notification of the GP and the municipality, "
            "selection for geriatric assessment in the emergency department and a reminder "
            "of the early notice to the municipality."
        ),
        usage_requirements=_USAGE,
    ),
    ServiceDefinition(
        id="discharge-pathway",
        hook="encounter-discharge",
        title="Discharge pathway for frail older patients",
        description=(
            "At discharge: care pathway (A/B/C), care coordinator, referral for comprehensive "
            "geriatric assessment, readmission risk and discharge safety checks."
        ),
        usage_requirements=_USAGE,
    ),
)

SERVICES_BY_ID: Mapping[str, ServiceDefinition] = MappingProxyType({s.id: s for s in SERVICES})


def discovery(services: tuple[ServiceDefinition, ...] = SERVICES) -> Discovery:
    """The discovery document (``GET /cds-services``)."""
    return Discovery(services=[s.describe() for s in services])
