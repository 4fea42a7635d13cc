"""No input makes a 500: random JSON bodies to every endpoint get an answer below 500."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
keys = st.sampled_from(["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization",
                        "extension", "patientId", "userId", "encounterId", "resourceType", "entry", "feedback"])
hookish = st.dictionaries(keys, json_values, max_size=7)


def _mutated_request(base, patch):
    body = json.loads(json.dumps(base))
    for key, value in patch.items():  # nested fields first, then whole members
        if key in ("patientId", "userId", "encounterId"):
            body["context"][key] = value
        elif key in ("resourceType", "entry"):
            body["prefetch"]["conditions"] = {key: value}
    body.update({k: v for k, v in patch.items()
                 if k not in ("patientId", "userId", "encounterId", "resourceType", "entry")})
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | hookish)
def test_random_json_never_gives_a_500(client, body):
    for path in ("/cds-services/discharge-pathway", "/cds-services/discharge-pathway/feedback"):
        assert client.post(path, json=body).status_code < 500


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patch=hookish)
def test_mutations_of_a_valid_request_never_give_a_500(client, request_body, patch):
    response = client.post("/cds-services/discharge-pathway", json=_mutated_request(request_body(), patch))
    assert response.status_code < 500, response.text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_give_a_500(client, raw):
    response = client.post("/cds-services/frailty-admission", content=raw,
                           headers={"Content-Type": "application/json"})
    assert response.status_code < 500
