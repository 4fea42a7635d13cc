"""The real engine never answers 500 to a spec-valid request, however partial its prefetch.

Persona requests are cut down at random: prefetch keys set to null, Bundle
entries dropped, context fields added. Each variant must get 200 or a specific 4xx.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
PERSONAS = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
CASES = [(hook, json.loads((EXAMPLES / path).read_text(encoding="utf-8"))) for p in PERSONAS
         for hook, path in sorted(p["requests"].items())]
SERVICE = {"patient-view": "frailty-patient-view", "encounter-start": "frailty-admission",
           "encounter-discharge": "discharge-pathway"}


@st.composite
def partial_requests(draw):
    hook, request = draw(st.sampled_from(CASES))
    body = json.loads(json.dumps(request))
    for key in list(body["prefetch"]):
        choice = draw(st.sampled_from(["keep", "keep", "null", "thin"]))
        value = body["prefetch"][key]
        if choice == "null" and key != "patient":
            body["prefetch"][key] = None
        elif choice == "thin" and isinstance(value, dict) and value.get("resourceType") == "Bundle":
            entries = value.get("entry", [])
            keep = draw(st.lists(st.booleans(), min_size=len(entries), max_size=len(entries)))
            value["entry"] = [e for e, k in zip(entries, keep, strict=True) if k]
    if draw(st.booleans()):
        body["context"]["no.example.extra"] = draw(st.text(max_size=5))
    return hook, body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(case=partial_requests())
def test_partial_persona_requests_never_give_a_500(real_client_factory, case):
    hook, body = case
    client = real_client_factory(clock=lambda: datetime.fromisoformat("2026-11-20T11:00:00+01:00"))
    response = client.post(f"/cds-services/{SERVICE[hook]}", json=body)
    assert response.status_code < 500, response.text
