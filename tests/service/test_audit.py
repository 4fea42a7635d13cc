"""Every call to a service is recorded (pseudonymised, no tokens, no resources); feedback is stored once."""

import threading
import uuid

from sqlalchemy import text

TOKEN = "sEcReT-fhir-access-token-123"


def rows(client, store, sql):
    """The rows ``sql`` selects, once the app's audit writer has written every call it was given."""
    client.app.state.runtime.audit.flush()
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def test_a_call_is_recorded_with_service_hook_instance_digest_and_outcome(client, store, request_body):
    body = request_body()
    client.post("/cds-services/discharge-pathway", json=body)
    [call] = rows(client, store, "select * from calls")
    assert (call["service_id"], call["hook"], call["hook_instance"]) == (
        "discharge-pathway", "encounter-discharge", body["hookInstance"])
    assert (call["ruleset_digest"], call["outcome"], call["http_status"]) == ("sha256:fake", "ok", 200)
    assert call["duration_ms"] > 0


def test_the_patient_is_stored_only_as_a_pseudonym(client, store, request_body):
    client.post("/cds-services/discharge-pathway", json=request_body())
    [call] = rows(client, store, "select * from calls")
    assert call["patient_pseudonym"].startswith("p_") and "ingrid" not in call["patient_pseudonym"]


def test_the_cards_served_are_recorded_with_their_rule(client, store, request_body):
    response = client.post("/cds-services/discharge-pathway", json=request_body())
    [card] = rows(client, store, "select * from cards")
    assert card["uuid"] == response.json()["cards"][0]["uuid"]
    assert (card["rule_id"], card["rule_version"], card["indicator"], card["topic"]) == (
        "discharge.pathway-b", "1.0.0", "warning", "pathway")


def test_refused_calls_are_recorded_with_their_status(client, store, request_body):
    body = request_body()
    del body["prefetch"]["flags"]
    client.post("/cds-services/discharge-pathway", json=body)
    [call] = rows(client, store, "select * from calls")
    assert (call["outcome"], call["http_status"]) == ("prefetch-missing", 412)


def test_neither_token_nor_resources_reach_the_database(client, store, request_body, tmp_path):
    body = request_body(fhirServer="https://fhir.example/fhir", fhirAuthorization={
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "cds"})
    client.post("/cds-services/discharge-pathway", json=body)
    client.app.state.runtime.audit.flush()
    store.close()
    raw = (tmp_path / "audit.sqlite3").read_bytes()
    assert TOKEN.encode() not in raw and b"1942-03-14" not in raw and b"ingrid" not in raw


OVERRIDE_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/override-reason"


def feedback(card="card-1", outcome="accepted", **extra):
    item = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-02T10:35:00Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": "sugg-cga"}]
    item.update(extra)
    return {"feedback": [item]}


def served_card(client, request_body):
    """The uuid of a card the service has just served (the fake evaluator's one discharge card)."""
    return client.post("/cds-services/discharge-pathway", json=request_body()).json()["cards"][0]["uuid"]


def test_feedback_is_stored(client, store, request_body):
    response = client.post("/cds-services/discharge-pathway/feedback", json=feedback(served_card(client, request_body)))
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "unknown_cards": 0, "spooled": 0}
    assert len(rows(client, store, "select * from feedback")) == 1


def test_the_same_feedback_twice_is_stored_once(client, store, request_body):
    body = feedback(served_card(client, request_body))
    client.post("/cds-services/discharge-pathway/feedback", json=body)
    again = client.post("/cds-services/discharge-pathway/feedback", json=body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert len(rows(client, store, "select * from feedback")) == 1


def test_feedback_on_a_served_card_is_known(client, request_body):
    uuid = served_card(client, request_body)
    assert client.post("/cds-services/discharge-pathway/feedback", json=feedback(uuid)).json()["unknown_cards"] == 0


def test_override_with_reason_is_accepted(client, request_body):
    body = feedback(served_card(client, request_body), outcome="overridden", overrideReason={
        "reason": {"system": OVERRIDE_SYSTEM, "code": "already-done", "display": "Allerede gjort"},
        "userComment": "Henvist i går"})
    assert client.post("/cds-services/discharge-pathway/feedback", json=body).status_code == 200


def test_feedback_with_an_unknown_outcome_is_400(client):
    response = client.post("/cds-services/discharge-pathway/feedback", json=feedback(outcome="ignored"))
    assert response.status_code == 400 and "outcome" in response.json()["issue"][0]["diagnostics"]


def test_accepted_feedback_without_suggestions_is_400(client):
    body = feedback()
    del body["feedback"][0]["acceptedSuggestions"]
    response = client.post("/cds-services/discharge-pathway/feedback", json=body)
    assert response.status_code == 400 and "acceptedSuggestions" in response.json()["issue"][0]["diagnostics"]


def test_feedback_to_an_unknown_service_is_404(client):
    assert client.post("/cds-services/nope/feedback", json=feedback()).status_code == 404


def hold_writes_until(method, store, monkeypatch):
    """The store writes nothing until ``AuditWriter.<method>`` is called; returns the event that releases it."""
    from cds.store.writer import AuditWriter

    released = threading.Event()
    original_record, original_method = store.record_calls, getattr(AuditWriter, method)

    def record_calls(records):
        released.wait()
        original_record(records)

    def release_first(self):
        released.set()
        original_method(self)

    monkeypatch.setattr(store, "record_calls", record_calls)
    monkeypatch.setattr(AuditWriter, method, release_first)
    return released


def test_calls_still_queued_are_written_when_the_app_shuts_down(make_client, store, request_body, monkeypatch):
    # The writer may not write until it is closed: only the lifespan's end lets the calls in.
    released = hold_writes_until("close", store, monkeypatch)
    try:
        with make_client() as client:
            for _ in range(5):
                client.post("/cds-services/discharge-pathway", json=request_body())
    finally:
        released.set()
    with store.engine.connect() as conn:  # no flush here: the lifespan's end must have written them
        assert conn.execute(text("select count(*) from calls")).scalar_one() == 5
        assert conn.execute(text("select count(*) from cards")).scalar_one() == 5


def test_feedback_waits_for_the_call_it_answers_to_be_written(make_client, store, request_body, monkeypatch):
    # The writer may not write until someone flushes it: only the feedback endpoint's flush lets the call in.
    released = hold_writes_until("flush", store, monkeypatch)
    client = make_client()
    try:
        uuid = client.post("/cds-services/discharge-pathway", json=request_body()).json()["cards"][0]["uuid"]
        answer = client.post("/cds-services/discharge-pathway/feedback", json=feedback(uuid)).json()
    finally:
        released.set()
    assert answer["unknown_cards"] == 0


def _database_down(store, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def refused(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "record_feedback", refused)
    monkeypatch.setattr(store, "write_call_rows", refused)
    monkeypatch.setattr(store, "served_cards", refused)


def test_feedback_while_the_database_is_down_is_spooled_and_answered_202(client, store, monkeypatch):
    _database_down(store, monkeypatch)
    # the served cards cannot be read while the database is down: what can be checked without it is, then it waits
    response = client.post("/cds-services/discharge-pathway/feedback",
                           json=feedback(card=str(uuid.uuid4()), outcome="overridden"))
    assert response.status_code == 202
    assert response.json() == {"stored": 0, "duplicates": 0, "unknown_cards": 0, "spooled": 1}
    assert client.app.state.runtime.audit.spool.depth() == 1


def test_feedback_that_cannot_be_made_durable_answers_503_with_retry_after(make_client, settings, store, monkeypatch):
    client = make_client(settings=settings.model_copy(update={"audit_spool_max_bytes": 4096}))
    _database_down(store, monkeypatch)
    comment = {"overrideReason": {"userComment": "x" * 900}}
    statuses = [client.post("/cds-services/discharge-pathway/feedback",
                            json=feedback(card=str(uuid.uuid4()), outcome="overridden", **comment)).status_code
                for n in range(8)]
    assert statuses[0] == 202 and statuses[-1] == 503
    refused = client.post("/cds-services/discharge-pathway/feedback", json=feedback(card=str(uuid.uuid4()), outcome="overridden", **comment))
    assert refused.status_code == 503 and refused.headers["retry-after"].isdigit()
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_feedback_while_the_database_is_down_still_refuses_free_text_in_coded_fields(client, store, monkeypatch):
    _database_down(store, monkeypatch)
    reason = {"reason": {"code": "Ola Nordmann 01010112345"}}
    response = client.post("/cds-services/discharge-pathway/feedback",
                           json=feedback(card=str(uuid.uuid4()), outcome="overridden", overrideReason=reason))
    assert response.status_code == 400
    assert "overrideReason.reason.code" in response.text
    assert client.app.state.runtime.audit.spool.depth() == 0


def test_feedback_about_a_card_whose_call_still_waits_in_the_spool_is_kept_unconfirmed(client, monkeypatch):
    # after an outage the answered call may sit in the spool a moment longer than the feedback about its card
    audit = client.app.state.runtime.audit
    monkeypatch.setattr(audit, "spool_pending", lambda: True)
    response = client.post("/cds-services/discharge-pathway/feedback",
                           json=feedback(card=str(uuid.uuid4()), outcome="overridden"))
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "unknown_cards": 1, "spooled": 0}
    coded_free_text = feedback(card=str(uuid.uuid4()), outcome="overridden",
                               overrideReason={"reason": {"code": "Kari Nordmann"}})
    assert client.post("/cds-services/discharge-pathway/feedback", json=coded_free_text).status_code == 400


def test_feedback_about_an_unknown_card_is_refused_when_nothing_waits_in_the_spool(client):
    response = client.post("/cds-services/discharge-pathway/feedback",
                           json=feedback(card=str(uuid.uuid4()), outcome="overridden"))
    assert response.status_code == 400 and "not the uuid of a card this service issued" in response.text
