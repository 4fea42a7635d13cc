"""Discovery publishes the three services with their prefetch templates."""

from cds.hooks.services import PREFETCH_TEMPLATES


def test_discovery_lists_the_three_services_with_their_hooks(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    hooks = {s["id"]: s["hook"] for s in response.json()["services"]}
    assert hooks == {
        "frailty-patient-view": "patient-view",
        "frailty-admission": "encounter-start",
        "discharge-pathway": "encounter-discharge",
    }


def test_every_service_has_title_description_and_patient_scoped_prefetch(client):
    for service in client.get("/cds-services").json()["services"]:
        assert service["title"] and service["description"]
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert service["prefetch"]["encounter"] == "Encounter/{{context.encounterId}}"
        searches = [t for k, t in service["prefetch"].items() if k not in ("patient", "encounter")]
        assert searches and all("?patient={{context.patientId}}" in t for t in searches)


def test_prefetch_asks_for_every_resource_type_the_fact_builder_reads(client):
    from cds.fhir.resources import ENGINE_RESOURCE_TYPES

    asked = {template.split("/")[0].split("?")[0] for template in PREFETCH_TEMPLATES.values()}
    assert asked == set(ENGINE_RESOURCE_TYPES)


def test_discovery_needs_no_client_jwt_by_default(make_client, tmp_path):
    from cds.service.settings import Settings

    secured = Settings(data_dir=tmp_path, public_base_url="http://testserver", auth={"issuers": {"https://epj.example.no": {"jwks": {"keys": []}}}})
    assert make_client(settings=secured).get("/cds-services").status_code == 200


def test_health_answers_ok(client):
    assert client.get("/health").json() == {"status": "ok"}
