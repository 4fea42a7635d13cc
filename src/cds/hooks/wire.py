"""Decoding a CDS Hooks request body: the small members as JSON, each prefetch value kept as its bytes.

A discharge call carries a few hundred kilobytes of prefetch, and a chart is
usually sent again unchanged (opened again, the next hook of the same stay).
`decode_hook_request` therefore reads the body with ``msgspec`` in one pass
that checks the JSON's structure but builds Python objects only for the small
members (``hook``, ``context``, ...). Each prefetch value stays a
`cds.fhir.resources.JsonBytes`: its exact bytes, which the FHIR parse cache
looks up directly, so a value seen before is never decoded or serialised again
(`cds.fhir.prefetch` reads what it checks from the cache too).

The skimming pass does not check everything a full decoder does (UTF-8 inside
strings, numbers out of range). A value that is not in the cache is decoded in
full by `JsonBytes.value` before anything uses it, and a failure there is a
400 naming the prefetch key (`cds.fhir.prefetch`). Anything the skimming pass
refuses, or a body whose shape it does not expect (a prefetch that is not an
object), is decoded again in full with ``orjson`` so the caller gets the same
error, or the same refusal by request validation, as without this module.

Top-level members the spec does not define are tolerated and dropped.

>>> request = decode_hook_request(b'{"hook": "patient-view", "context": {"patientId": "p1"},'
...                               b' "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "x": null}}')
>>> request["context"], request["prefetch"]["x"], request["prefetch"]["patient"]
({'patientId': 'p1'}, None, JsonBytes(39 bytes))
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from cds.fhir.resources import JsonBytes

__all__ = ["decode_hook_request"]

_NULL = b"null"


class _Body(msgspec.Struct):
    """The members of a CDS Hooks request (2.0.1), each kept as raw JSON."""

    hook: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    hookInstance: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # noqa: N815 - CDS Hooks naming
    fhirServer: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # noqa: N815
    fhirAuthorization: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # noqa: N815
    context: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    prefetch: dict[str, msgspec.Raw] | None | msgspec.UnsetType = msgspec.UNSET
    extension: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_Body)
_MEMBERS = tuple(name for name in _Body.__struct_fields__ if name != "prefetch")


def decode_hook_request(body: bytes) -> Any:
    """The request as Python values with prefetch values as `JsonBytes` (``null`` stays None).

    Raises ``orjson.JSONDecodeError`` (a `ValueError`) when the body is not JSON.
    A body that is JSON but not a request object (a list, a prefetch that is
    not an object) comes back fully decoded, for request validation to refuse.
    """
    try:
        skimmed = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return orjson.loads(body)
    request: dict[str, Any] = {}
    for name in _MEMBERS:
        raw = getattr(skimmed, name)
        if raw is not msgspec.UNSET:
            request[name] = orjson.loads(memoryview(raw))  # small members; also a full check of their JSON
    prefetch = skimmed.prefetch
    if prefetch is None or prefetch is msgspec.UNSET:
        if prefetch is None:
            request["prefetch"] = None
        return request
    values: dict[str, JsonBytes | None] = {}
    for key, raw in prefetch.items():
        data = bytes(raw)
        values[key] = None if data == _NULL else JsonBytes(data)
    request["prefetch"] = values
    return request
