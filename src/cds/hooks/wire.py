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

Nesting is bounded (`cds.jsondepth`): the skimming pass and ``orjson`` recurse
once per level, and past about 1,000 levels ``msgspec`` raises `RecursionError`.
Each small member is checked before it is decoded, each prefetch value before
`JsonBytes.value` decodes it (a value found in the cache was checked when it was
first decoded), and a body the skimming pass cannot read is checked whole before
it is decoded again, so anything nested deeper than ``max_depth`` levels is
`JsonTooDeep` (a `ValueError`), answered with a 400.

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
from cds.jsondepth import DEFAULT_MAX_DEPTH, check_depth

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


def decode_hook_request(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The request as Python values with prefetch values as `JsonBytes` (``null`` stays None).

    Raises ``orjson.JSONDecodeError`` (a `ValueError`) when the body is not JSON,
    `cds.jsondepth.JsonTooDeep` (a `ValueError`) when a member nests deeper than
    ``max_depth`` levels counted from the body (prefetch values: when decoded).
    A body that is JSON but not a request object (a list, a prefetch that is
    not an object) comes back fully decoded, for request validation to refuse.
    """
    try:
        skimmed = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        check_depth(body, max_depth)
        return orjson.loads(body)
    request: dict[str, Any] = {}
    for name in _MEMBERS:
        raw = getattr(skimmed, name)
        if raw is not msgspec.UNSET:
            member = memoryview(raw)
            if len(member) > 2 * (max_depth - 1):  # fewer bytes cannot nest that deep
                check_depth(bytes(member), max_depth, outer=1)
            request[name] = orjson.loads(member)  # small members; also a full check of their JSON
    prefetch = skimmed.prefetch
    if prefetch is None or prefetch is msgspec.UNSET:
        if prefetch is None:
            request["prefetch"] = None
        return request
    values: dict[str, JsonBytes | None] = {}
    for key, raw in prefetch.items():
        data = bytes(raw)
        values[key] = None if data == _NULL else JsonBytes(data, max_depth, outer=2)
    request["prefetch"] = values
    return request
