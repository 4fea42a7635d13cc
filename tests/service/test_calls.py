"""A call to a service: cards back, in the caller's language, through the evaluator."""


def test_discharge_call_answers_the_evaluators_cards(client, request_body):
    response = client.post("/cds-services/discharge-pathway", json=request_body())
    assert response.status_code == 200
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning" and card["source"]["label"] == "Frailty CDS"


def test_a_call_without_guidance_answers_an_empty_card_list(client, request_body):
    response = client.post("/cds-services/frailty-patient-view", json=request_body("patient-view"))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_the_evaluator_gets_context_and_parsed_resources(client, request_body, evaluator):
    client.post("/cds-services/discharge-pathway", json=request_body())
    [call] = evaluator.calls
    assert (call.service_id, call.hook, call.patient_id, call.encounter_id) == (
        "discharge-pathway", "encounter-discharge", "ingrid", "stay-1")
    assert call.user_id == "Practitioner/dr-hansen"
    assert call.resources.get("Observation", "cfs-1") is not None
    assert call.now.isoformat() == "2026-11-02T10:30:00+00:00"


def test_language_defaults_to_bokmal(client, request_body, evaluator):
    client.post("/cds-services/discharge-pathway", json=request_body())
    assert evaluator.calls[0].language == "nb"


def test_accept_language_english_gives_english_cards(client, request_body, evaluator):
    response = client.post("/cds-services/discharge-pathway", json=request_body(),
                           headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert evaluator.calls[0].language == "en"
    assert response.json()["cards"][0]["summary"].startswith("Frail patient")


def test_patient_view_without_encounter_does_not_need_the_encounter_key(client, request_body):
    body = request_body("patient-view")
    del body["context"]["encounterId"]
    del body["prefetch"]["encounter"]
    assert client.post("/cds-services/frailty-patient-view", json=body).status_code == 200


def test_fhir_json_content_type_is_accepted(client, request_body):
    import json

    response = client.post("/cds-services/discharge-pathway", content=json.dumps(request_body()),
                           headers={"Content-Type": "application/fhir+json; charset=utf-8"})
    assert response.status_code == 200


def test_unknown_extension_and_context_fields_are_tolerated(client, request_body):
    body = request_body(extension={"no.dips.arena.ward": {"code": "GER1"}})
    body["context"]["no.example.unknownField"] = [1, 2, 3]
    body["somethingNew"] = True
    assert client.post("/cds-services/discharge-pathway", json=body).status_code == 200


def test_null_prefetch_tells_the_evaluator_the_search_ran_and_found_nothing(client, request_body, evaluator):
    body = request_body()
    body["prefetch"]["careTeams"] = None
    client.post("/cds-services/discharge-pathway", json=body)
    assert "CareTeam" in evaluator.calls[0].resources.searched


def test_one_invalid_observation_does_not_cost_the_call(client, request_body, evaluator):
    body = request_body()
    body["prefetch"]["observations"]["entry"].append(
        {"resource": {"resourceType": "Observation", "id": "broken", "status": "final"}})  # no code
    assert client.post("/cds-services/discharge-pathway", json=body).status_code == 200
    assert [i.id for i in evaluator.calls[0].resources.issues] == ["broken"]


def test_a_chart_seen_before_is_evaluated_on_the_event_loop_and_a_new_one_in_a_worker_thread(
    client, request_body, evaluator, monkeypatch
):
    import threading

    from cds.fhir.resources import clear_parse_cache

    threads = []
    evaluate = evaluator.evaluate

    def spy(call):
        threads.append(threading.current_thread().name)
        return evaluate(call)

    monkeypatch.setattr(evaluator, "evaluate", spy)
    clear_parse_cache()
    first = client.post("/cds-services/discharge-pathway", json=request_body())  # validation: off the loop
    again = client.post("/cds-services/discharge-pathway", json=request_body())  # all cached: on the loop
    assert [c["summary"] for c in first.json()["cards"]] == [c["summary"] for c in again.json()["cards"]]
    assert threads[0].startswith("AnyIO worker thread") and not threads[1].startswith("AnyIO worker thread")
