"""Prefetch templates (compiled once per template) and the one-pass resolution of a call's prefetch."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.fhir.client import FetchResult
from cds.fhir.prefetch import PrefetchInvalid, render_template, resolve_prefetch
from cds.hooks.services import PREFETCH_TEMPLATES

REQUEST = Path(__file__).resolve().parents[2] / "fhir_examples/requests/a-ingrid-haugen.encounter-discharge.json"
_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_USER_TOKENS = ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId")


def reference_render(template: str, context: dict[str, Any]) -> str | None:
    """The straightforward renderer (a regex substitution per call), as the specification."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name, found = match.group(1), None
        if name.startswith("context."):
            found = context.get(name.removeprefix("context."))
        elif name in _USER_TOKENS:
            user, prefix = context.get("userId"), name.removeprefix("user").removesuffix("Id") + "/"
            if isinstance(user, str) and user.startswith(prefix):
                found = user.removeprefix(prefix)
        if not isinstance(found, str) or not found:
            missing = True
            return ""
        return quote(found, safe="")

    rendered = _TOKEN.sub(value, template)
    return None if missing else rendered


_tokens = st.sampled_from(
    ["{{context.patientId}}", "{{ context.encounterId }}", "{{context.missing}}", "{{userPractitionerId}}",
     "{{userPatientId}}", "{{unknownToken}}", "{{context.userId}}"]
)
_literals = st.sampled_from(["", "Patient/", "Condition?patient=", "&_count=100", "/", "?", "{", "}}", "x{{y"])
_templates = st.lists(_tokens | _literals, max_size=6).map("".join)
_context = st.fixed_dictionaries(
    {},
    optional={
        "patientId": st.text(max_size=6) | st.integers(),
        "encounterId": st.text(max_size=6),
        "userId": st.sampled_from(["Practitioner/dr 1", "Patient/p&1", "Practitioner/", "RelatedPerson/r"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(_templates, _context)
def test_rendering_a_compiled_template_gives_what_substituting_each_time_gives(template: str, context: dict) -> None:
    assert render_template(template, context) == reference_render(template, context)


class RecordingSource:
    def __init__(self) -> None:
        self.queries: list[str] = []

    async def fetch(self, query: str) -> FetchResult:
        self.queries.append(query)
        return FetchResult([])


CONTEXT = {"patientId": "a-patient", "encounterId": "a-encounter-current", "userId": "Practitioner/x"}


def resolve(prefetch: dict, source: RecordingSource | None = None) -> tuple[Any, list[str]]:
    source = source or RecordingSource()
    result = asyncio.run(resolve_prefetch(PREFETCH_TEMPLATES, CONTEXT, prefetch, source))
    return result, source.queries


def test_a_full_persona_request_is_provided_key_by_key_without_fetching() -> None:
    prefetch = json.loads(REQUEST.read_text(encoding="utf-8"))["prefetch"]
    result, queries = resolve(prefetch)
    assert queries == []
    assert result.provided == [key for key, value in prefetch.items() if value is not None]
    assert result.resources == [value for value in prefetch.values() if value is not None]
    assert result.searched == {t.split("?")[0] for t in PREFETCH_TEMPLATES.values() if "?" in t}


def test_null_absent_and_outcome_keys_are_resolved_in_template_order() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    patient = {"resourceType": "Patient", "id": "a-patient"}
    result, queries = resolve({"patient": patient, "encounter": None, "conditions": outcome, "flags": None})
    assert result.provided == ["patient"] and result.null == ["encounter", "flags"]
    assert queries[0] == "Encounter?patient=a-patient&_count=100"
    assert "Condition?patient=a-patient&_count=100" in queries
    assert result.fetched == [k for k in PREFETCH_TEMPLATES if k not in ("patient", "encounter", "flags")]
    assert "Flag" in result.searched and "Patient" not in result.searched


def test_every_invalid_key_is_reported_together_and_nothing_is_fetched() -> None:
    source = RecordingSource()
    with pytest.raises(PrefetchInvalid) as caught:
        resolve(
            {
                "patient": {"resourceType": "Patient", "id": "someone-else"},
                "encounter": "Encounter/1",
                "conditions": {"resourceType": "Observation"},
                "observations": {"resourceType": "Bundle", "entry": {}},
            },
            source,
        )
    assert [m.split(":")[0] for m in caught.value.messages] == [
        "prefetch.patient", "prefetch.encounter", "prefetch.conditions", "prefetch.observations"
    ]
    assert "Patient/a-patient" in caught.value.messages[0]
    assert source.queries == []
