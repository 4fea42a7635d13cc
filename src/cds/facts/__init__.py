"""FHIR R4 resources -> one typed PatientSnapshot (the fact catalogue).

`build_snapshot` is imported lazily so that importing `cds.facts.snapshot`
(the shared contract) does not load the FHIR models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cds.facts.snapshot import PatientSnapshot

if TYPE_CHECKING:
    from cds.facts.builder import build_snapshot

__all__ = ["PatientSnapshot", "build_snapshot"]


def __getattr__(name: str) -> Any:
    if name == "build_snapshot":
        from cds.facts.builder import build_snapshot

        return build_snapshot
    raise AttributeError(f"module 'cds.facts' has no attribute {name!r}")
