"""Hook calls are answered before FastAPI's routing (`HookCallShortcut`), the same as the route would."""

import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from cds.service.settings import Settings


UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def answer(response):
    """Status, content type and body, card uuids (random per call) left out."""
    return response.status_code, response.headers["content-type"], UUID.sub(b"<uuid>", response.content)


def recorded_calls(client, store):
    client.app.state.runtime.audit.flush()
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "select service_id, hook, hook_instance, patient_pseudonym, outcome, http_status from calls order by id"))]


def test_a_call_under_a_root_path_is_answered_by_the_route_as_the_shortcut_answers_it(make_client, store,
                                                                                    request_body):
    direct = make_client()
    routed = TestClient(direct.app, root_path="/api", raise_server_exceptions=False)  # the shortcut steps aside
    body = request_body()
    for path, payload, headers in [
        ("/cds-services/discharge-pathway", body, {}),
        ("/cds-services/discharge-pathway", body, {"Accept-Language": "en"}),
        ("/cds-services/no-such-service", body, {}),
        ("/cds-services/frailty-patient-view", body, {}),  # the wrong hook: 400
    ]:
        a = direct.post(path, json=payload, headers=headers)
        b = routed.post("/api" + path, json=payload, headers=headers)
        assert answer(a) == answer(b)
    calls = recorded_calls(direct, store)
    assert len(calls) == 6 and calls[0::2] == calls[1::2]  # the unknown service is not recorded, either way


def test_a_hook_call_gets_the_cors_headers(make_client, tmp_path, request_body):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        cors_origins=["https://epj.example.no"])
    response = make_client(settings=settings).post("/cds-services/discharge-pathway", json=request_body(),
                                                   headers={"Origin": "https://epj.example.no"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://epj.example.no"


def test_paths_below_a_service_are_left_to_the_routes(client):
    assert client.post("/cds-services/discharge-pathway/feedback", json={"feedback": []}).status_code != 404
    assert client.post("/cds-services/discharge-pathway/other", json={}).status_code == 404
    assert client.get("/cds-services/discharge-pathway").status_code == 405
