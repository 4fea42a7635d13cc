"""Request bodies skimmed by cds.hooks.wire: small members decoded, prefetch values kept as the bytes sent."""

from __future__ import annotations

import orjson
import pytest

from cds.fhir.resources import JsonBytes
from cds.hooks.wire import decode_hook_request

PATIENT = b'{"resourceType": "Patient", "id": "ingrid", "birthDate": "1942-03-14"}'
BODY = (
    b'{"hook": "encounter-discharge", "hookInstance": "h-1",\n'
    b' "context": {"patientId": "ingrid", "encounterId": "stay-1", "userId": "Practitioner/p1"},\n'
    b' "prefetch": {"patient": ' + PATIENT + b', "conditions": null},\n'
    b' "extension": {"no.example": {"x": 1}}}'
)


def test_small_members_are_decoded_and_prefetch_values_kept_as_the_exact_bytes_sent() -> None:
    request = decode_hook_request(BODY)
    assert request["hook"] == "encounter-discharge"
    assert request["context"] == {"patientId": "ingrid", "encounterId": "stay-1", "userId": "Practitioner/p1"}
    assert request["extension"] == {"no.example": {"x": 1}}
    patient = request["prefetch"]["patient"]
    assert isinstance(patient, JsonBytes) and patient.data == PATIENT
    assert patient.value() == orjson.loads(PATIENT)


def test_a_null_prefetch_value_stays_null_and_a_null_prefetch_stays_null() -> None:
    assert decode_hook_request(BODY)["prefetch"]["conditions"] is None
    assert decode_hook_request(b'{"hook": "patient-view", "prefetch": null}')["prefetch"] is None
    assert "prefetch" not in decode_hook_request(b'{"hook": "patient-view"}')


def test_a_body_that_is_not_json_raises_the_same_error_as_a_full_decode() -> None:
    bad = b'{"hook": "patient-view", "prefetch": {"p": {"a": [1,}}}'
    with pytest.raises(orjson.JSONDecodeError) as skimmed:
        decode_hook_request(bad)
    with pytest.raises(orjson.JSONDecodeError) as full:
        orjson.loads(bad)
    assert (skimmed.value.msg, skimmed.value.pos) == (full.value.msg, full.value.pos)


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"hook": "patient-view", "prefetch": [1]}', b'"text"'])
def test_json_of_another_shape_comes_back_fully_decoded_for_validation_to_refuse(body: bytes) -> None:
    assert decode_hook_request(body) == orjson.loads(body)


def test_members_the_spec_does_not_define_are_tolerated() -> None:
    request = decode_hook_request(b'{"hook": "patient-view", "context": {}, "vendorThing": {"a": [1]}}')
    assert request == {"hook": "patient-view", "context": {}}
