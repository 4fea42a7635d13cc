"""Reading FHIR R4: the parsed resource set (`resources`), prefetch resolution and the FHIR client."""

from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceIssue, ResourceSet

__all__ = ["ENGINE_RESOURCE_TYPES", "ResourceIssue", "ResourceSet"]
