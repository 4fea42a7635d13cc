"""Feedback fields are what the service issued, or refused with a 400 (gap 8 of issue #15).

Only the clinician's ``userComment`` is free text: ``card`` must be the uuid of
a card this service served, ``outcomeTimestamp`` a date-time, accepted
suggestions that card's own, override reason codes from that card's own list.
Nothing of a refused request is stored; ``redact_comments`` wipes every free
text that was stored.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from .conftest import NOW

OVERRIDE_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/override-reason"
FEEDBACK = "/cds-services/discharge-pathway/feedback"


class FakeRules:
    """A serving rule set holding the fake evaluator's rule, with its card's override reasons."""

    def current(self):
        card = SimpleNamespace(override_reasons=[SimpleNamespace(code="already-done"),
                                                 SimpleNamespace(code="not-relevant")])
        rule = SimpleNamespace(id="discharge.pathway-b", definition=SimpleNamespace(card=card))
        return SimpleNamespace(rules=[rule])


@pytest.fixture
def client(make_client):
    return make_client(rules=FakeRules())


def serve(client, request_body) -> str:
    return client.post("/cds-services/discharge-pathway", json=request_body()).json()["cards"][0]["uuid"]


def item(card, **changes):
    base = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-02T10:35:00Z",
            "overrideReason": {"reason": {"system": OVERRIDE_SYSTEM, "code": "already-done", "display": "Allerede gjort"},
                               "userComment": "Henvist i går"}}
    base.update(changes)
    return base


def stored(client, store):
    client.app.state.runtime.audit.flush()
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("select * from feedback"))]


def refusal(response):
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    return " ".join(issue["diagnostics"] for issue in response.json()["issue"])


def test_feedback_about_a_card_the_service_served_is_stored(client, store, request_body):
    card = serve(client, request_body)
    assert client.post(FEEDBACK, json={"feedback": [item(card)]}).json()["stored"] == 1
    [row] = stored(client, store)
    assert (row["card_uuid"], row["override_code"]) == (card, "already-done")


FREE_TEXT = st.sampled_from(["03054812345", "Ingrid Haugen", "card-1", "", " ", "ø" * 50]) | st.text(max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(card=FREE_TEXT.filter(lambda value: not _is_uuid(value)))
def test_a_card_that_is_not_a_uuid_is_refused_and_nothing_is_stored(client, store, request_body, card):
    serve(client, request_body)
    assert "card" in refusal(client.post(FEEDBACK, json={"feedback": [item(card)]}))
    assert stored(client, store) == []


def _is_uuid(value):
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def test_a_uuid_the_service_never_issued_is_refused(client, store, request_body):
    serve(client, request_body)
    response = client.post(FEEDBACK, json={"feedback": [item(str(uuid.uuid4()))]})
    assert "not the uuid of a card this service issued" in refusal(response)
    assert stored(client, store) == []


def test_a_card_another_service_issued_is_refused(client, request_body):
    card = serve(client, request_body)
    response = client.post("/cds-services/frailty-admission/feedback", json={"feedback": [item(card)]})
    assert "not the uuid of a card this service issued" in refusal(response)


@pytest.mark.parametrize("timestamp", ["03054812345", "Ingrid Haugen", "2026-11-02", "yesterday", "2026-13-40T25:00"])
def test_an_outcome_timestamp_that_is_not_a_date_time_is_refused(client, store, request_body, timestamp):
    card = serve(client, request_body)
    assert "outcomeTimestamp" in refusal(client.post(FEEDBACK, json={"feedback": [item(card,
                                                                                     outcomeTimestamp=timestamp)]}))
    assert stored(client, store) == []


@pytest.mark.parametrize("code", ["03054812345", "Ingrid Haugen", "ikke-relevant"])
def test_an_override_code_not_in_the_cards_own_list_is_refused_naming_the_list(client, store, request_body, code):
    card = serve(client, request_body)
    body = item(card)
    body["overrideReason"]["reason"]["code"] = code
    message = refusal(client.post(FEEDBACK, json={"feedback": [body]}))
    assert "overrideReason.reason.code" in message and "already-done, not-relevant" in message
    assert stored(client, store) == []


def test_an_override_system_other_than_the_cards_is_refused(client, request_body):
    body = item(serve(client, request_body))
    body["overrideReason"]["reason"]["system"] = "urn:free:text:Ingrid"
    assert "overrideReason.reason.system" in refusal(client.post(FEEDBACK, json={"feedback": [body]}))


def test_an_accepted_suggestion_the_card_does_not_offer_is_refused(client, request_body):
    card = serve(client, request_body)
    accepted = {"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-02T10:35:00Z",
                "acceptedSuggestions": [{"id": "03054812345"}]}
    assert "acceptedSuggestions" in refusal(client.post(FEEDBACK, json={"feedback": [accepted]}))
    accepted["acceptedSuggestions"] = [{"id": "sugg-cga"}]
    assert client.post(FEEDBACK, json={"feedback": [accepted]}).status_code == 200


def test_one_bad_item_refuses_the_whole_request(client, store, request_body):
    card = serve(client, request_body)
    response = client.post(FEEDBACK, json={"feedback": [item(card), item(card, outcomeTimestamp="nope")]})
    assert "feedback[1].outcomeTimestamp" in refusal(response)
    assert stored(client, store) == []


def test_redact_comments_wipes_every_free_text_the_feedback_stored(client, store, request_body):
    card = serve(client, request_body)
    assert client.post(FEEDBACK, json={"feedback": [item(card)]}).status_code == 200
    assert store.redact_comments(received_before=NOW + timedelta(days=1)) == 1
    [row] = stored(client, store)
    assert (row["user_comment"], row["override_display"]) == (None, None)
    assert (row["override_system"], row["override_code"]) == (OVERRIDE_SYSTEM, "already-done")
    free = {k: v for k, v in row.items() if isinstance(v, str)}
    assert not any(text in value for value in free.values() for text in ("Henvist", "Allerede gjort"))
