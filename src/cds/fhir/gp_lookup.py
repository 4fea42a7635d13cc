"""Finding the patient's GP (fastlege) in a GP register service when the record does not name one.

In Norway the fastlege is registered in Fastlegeregisteret, and the EPJ's
Patient often lacks ``generalPractitioner``. A deployment can name a FHIR
search on a register-like service (setting ``fhir.gp_lookup_url``), with
``{identifier}`` standing for the patient's ``system|value`` (URL-encoded),
for example::

    https://flr.example.no/fhir/CareTeam?subject:identifier={identifier}&_include=CareTeam:participant

It is asked only when the Patient carries no ``generalPractitioner``, once per
national identifier with valid control digits, until one answers with
resources. Its answer (CareTeams, PractitionerRoles coded ``role.gp``,
Practitioners) joins the call's resources, and the fact builder finds the GP
there as in any CareTeam (``docs/fhir-conventions.md``). The call's access
token is for ``fhirServer`` only and is never sent here; a lookup that fails
or times out leaves the GP unknown (the admission card then asks to identify
the GP) and is logged without any identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from cds.fhir.client import bundle_resources
from cds.fhir.identity import NATIONAL_SYSTEMS, identifiers_of, well_formed

__all__ = ["GpLookup"]

log = logging.getLogger(__name__)


class GpLookup:
    """Asks one GP register service for the GP of a Patient (see the module docstring)."""

    def __init__(self, url_template: str, *, http: httpx.AsyncClient, timeout_seconds: float = 5.0) -> None:
        if "{identifier}" not in url_template:
            raise ValueError("fhir.gp_lookup_url must contain {identifier} (the patient's system|value)")
        self._template = url_template
        self._http = http
        self._timeout = httpx.Timeout(timeout_seconds)

    async def resources_for(self, patient: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The register's resources for a Patient without ``generalPractitioner`` (else, or on failure, none)."""
        if patient.get("generalPractitioner"):
            return []
        for system, value in identifiers_of(patient):
            if system not in NATIONAL_SYSTEMS or not well_formed(system, value):
                continue
            url = self._template.replace("{identifier}", quote(f"{system}|{value}", safe=""))
            try:
                response = await self._http.get(url, headers={"Accept": "application/fhir+json"},
                                                timeout=self._timeout)
                data = response.json() if response.status_code < 400 else None
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("the GP lookup failed (%s); the GP stays unknown", type(exc).__name__)
                return []
            if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
                log.warning("the GP lookup answered HTTP %s without a Bundle; the GP stays unknown",
                            response.status_code)
                return []
            found = bundle_resources(data)
            if found:
                return found
        return []
