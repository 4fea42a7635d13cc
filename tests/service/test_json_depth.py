"""Deeply nested JSON is refused with a 400 before any decoder recurses (gap 1 of issue #15).

Decoders fail near 1,000 levels (``msgspec`` with `RecursionError`, which used
to become a 500 and a closed keep-alive connection); the service refuses
anything deeper than ``max_json_depth`` levels with an OperationOutcome.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.hooks.wire import decode_hook_request
from cds.jsondepth import JsonTooDeep, exceeds_depth

from .liveserver import serving

DEEP = 5000  # far past where decoders fail
NEAR_DECODER_LIMIT = 972  # passes the decoders, used to fail in the Python that walks the value


def nested(levels: int) -> object:
    value: object = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"x": value}
    return value


def deep_bytes(levels: int) -> bytes:
    return b'{"x":' * levels + b"1" + b"}" * levels


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\ax\n\u00e6', max_size=8)
json_values = st.recursive(
    st.none() | st.integers(min_value=-(2**53), max_value=2**53) | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, limit=st.integers(min_value=1, max_value=12))
def test_the_byte_check_agrees_with_the_depth_of_the_decoded_value(value, limit):
    assert exceeds_depth(orjson.dumps(value), limit) == (depth(value) > limit)


def test_a_body_nested_too_deep_for_the_skimming_decoder_is_refused_before_decoding():
    body = b'{"hook": "patient-view", "hookInstance": "h", "context": ' + deep_bytes(DEEP) + b"}"
    with pytest.raises(JsonTooDeep):
        decode_hook_request(body, 100)


@pytest.mark.parametrize("levels", [DEEP, NEAR_DECODER_LIMIT, 101])
@pytest.mark.parametrize("where", ["extension", "context", "prefetch"])
def test_deep_nesting_anywhere_in_a_hook_call_is_a_400_operation_outcome(client, request_body, where, levels):
    body = request_body()
    if where == "extension":
        body["extension"] = {"no.example": "__DEEP__"}
    elif where == "context":
        body["context"]["draftOrders"] = "__DEEP__"
    else:
        body["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset", "x": "__DEEP__"}
    data = orjson.dumps(body).replace(b'"__DEEP__"', deep_bytes(levels))
    response = client.post("/cds-services/discharge-pathway", content=data,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "deeper than 100 levels" in outcome["issue"][0]["diagnostics"]


def test_nesting_within_the_bound_is_answered(client, request_body):
    body = request_body()
    body["extension"] = {"no.example": nested(90)}
    assert client.post("/cds-services/discharge-pathway", json=body).status_code == 200


def test_the_bound_is_a_setting(make_client, settings, request_body):
    settings.max_json_depth = 20
    body = request_body()
    body["extension"] = {"no.example": nested(30)}
    response = make_client().post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "deeper than 20 levels" in response.json()["issue"][0]["diagnostics"]


def test_deep_nesting_in_a_feedback_body_is_a_400(client):
    body = b'{"feedback": [' + deep_bytes(DEEP) + b"]}"
    response = client.post("/cds-services/discharge-pathway/feedback", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_keep_alive_connection_stays_usable_after_a_deep_body(make_client, request_body):
    app = make_client().app
    deep = b'{"hook": "encounter-discharge", "hookInstance": "h", "context": ' + deep_bytes(DEEP) + b"}"
    with serving(app) as base, httpx.Client(base_url=base, limits=httpx.Limits(max_connections=1)) as http:
        refused = http.post("/cds-services/discharge-pathway", content=deep,
                            headers={"Content-Type": "application/json"})
        answered = http.post("/cds-services/discharge-pathway", json=request_body())
        assert (refused.status_code, answered.status_code) == (400, 200)
        assert refused.headers.get("connection") != "close"
        pool = http._transport._pool  # one connection served both requests
        assert len(pool.connections) == 1
