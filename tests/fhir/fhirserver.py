"""A small FHIR R4 server on the loopback interface, for tests that fetch over real HTTP.

It serves resources held in memory with the search semantics the engine relies
on: reads (``Type/id``), ``patient=`` / ``subject=`` (a *literal* reference, as
a real server matches it), ``patient:identifier=`` / ``subject:identifier=``
(``system|value`` against ``Reference.identifier``, the logical form),
``patient.identifier=`` (chained: literal references to the Patient carrying it), ``code=``
(comma-separated ``system|code``), ``date=`` (``ge``/``le``/``gt``/``lt``
prefixes, repeatable), ``_sort=-date``, ``_count`` and paging through Bundle
``next`` links (``_offset``). Failures can be injected per resource type
(``fail``: HTTP status; ``delay``: seconds before answering). Every request is
recorded (``requests``: path and query), and ``served`` counts resources and
bytes sent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATIENT_ELEMENTS = ("subject", "patient", "beneficiary", "for")
_DATE_ELEMENTS = ("effectiveDateTime", "issued", "recordedDate", "onsetDateTime", "authoredOn", "occurrenceDateTime",
                  "dateAsserted", "date", "start", "sent")
_PERIOD_ELEMENTS = ("effectivePeriod", "period", "onsetPeriod", "occurrencePeriod")


@dataclass
class FhirServer:
    resources: list[dict[str, Any]]
    fail: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    max_count: int = 100
    requests: list[str] = field(default_factory=list)
    served_resources: int = 0
    served_bytes: int = 0
    base_url: str = ""

    # -- matching --------------------------------------------------------------------------
    @staticmethod
    def _refs(resource: dict[str, Any]) -> list[dict[str, Any]]:
        refs = [resource[name] for name in PATIENT_ELEMENTS if isinstance(resource.get(name), dict)]
        refs += [p["actor"] for p in resource.get("participant") or () if isinstance(p.get("actor"), dict)]
        return refs

    def _literal(self, resource: dict[str, Any], patient: str) -> bool:
        wanted = patient if patient.startswith("Patient/") else f"Patient/{patient}"
        return any(str(ref.get("reference", "")).endswith(wanted) for ref in self._refs(resource))

    def _logical(self, resource: dict[str, Any], token: str) -> bool:
        system, _, value = token.rpartition("|")
        for ref in self._refs(resource):
            identifier = ref.get("identifier") or {}
            if identifier.get("value") == value and (not system or identifier.get("system") == system):
                return True
        return False

    @staticmethod
    def _codes(resource: dict[str, Any]) -> set[str]:
        out = set()
        for element in ("code", "type", "class", "category", "vaccineCode", "medicationCodeableConcept"):
            value = resource.get(element)
            for concept in value if isinstance(value, list) else [value]:
                if isinstance(concept, dict):
                    for coding in concept.get("coding") or ():
                        out.add(f"{coding.get('system', '')}|{coding.get('code')}")
                        out.add(f"|{coding.get('code')}")
                    if "code" in concept and "system" in concept:  # Encounter.class is a Coding
                        out.add(f"{concept['system']}|{concept['code']}")
        return out

    @staticmethod
    def _date(resource: dict[str, Any]) -> str | None:
        for name in _DATE_ELEMENTS:
            if isinstance(resource.get(name), str):
                return resource[name]
        for name in _PERIOD_ELEMENTS:
            period = resource.get(name)
            if isinstance(period, dict) and isinstance(period.get("start"), str):
                return period["start"]
        return None

    @staticmethod
    def _date_matches(moment: str | None, condition: str) -> bool:
        if moment is None:
            return False
        prefix, value = (condition[:2], condition[2:]) if condition[:2] in ("ge", "le", "gt", "lt", "eq") else (
            "eq", condition)
        day = moment[: len(value)]
        return {"ge": day >= value, "le": day <= value, "gt": day > value, "lt": day < value, "eq": day == value}[prefix]

    def search(self, rtype: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found = [r for r in self.resources if r.get("resourceType") == rtype]
        for name, value in params:
            if name in ("patient", "subject"):
                found = [r for r in found if self._literal(r, value)]
            elif name in ("patient:identifier", "subject:identifier"):
                found = [r for r in found if self._logical(r, value)]
            elif name in ("patient.identifier", "subject:Patient.identifier"):  # chained: literal refs to that Patient
                system, _, wanted = value.rpartition("|")
                ids = {p["id"] for p in self.resources if p.get("resourceType") == "Patient" and any(
                    i.get("value") == wanted and (not system or i.get("system") == system)
                    for i in p.get("identifier") or ())}
                found = [r for r in found if any(self._literal(r, pid) for pid in ids)]
            elif name == "code":
                wanted = {c if "|" in c else f"|{c}" for c in value.split(",")}
                found = [r for r in found if self._codes(r) & wanted]
            elif name == "date":
                found = [r for r in found if self._date_matches(self._date(r), value)]
        if ("_sort", "-date") in params:
            found.sort(key=lambda r: self._date(r) or "", reverse=True)
        return found

    # -- HTTP ------------------------------------------------------------------------------
    def _answer(self, body: dict[str, Any], status: int = 200) -> Response:
        data = orjson.dumps(body)
        self.served_bytes += len(data)
        return Response(data, status_code=status, media_type="application/fhir+json")

    async def handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        self.requests.append(path + ("?" + request.url.query if request.url.query else ""))
        rtype = path.split("/")[0]
        if rtype in self.delay:
            await asyncio.sleep(self.delay[rtype])
        if rtype in self.fail:
            return self._answer({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "exception"}]}, self.fail[rtype])
        parts = path.split("/")
        if len(parts) == 2:
            match = next((r for r in self.resources if r.get("resourceType") == rtype and r.get("id") == parts[1]),
                         None)
            if match is None:
                return self._answer({"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "not-found"}]}, 404)
            self.served_resources += 1
            return self._answer(match)
        params = [(k, v) for k, v in parse_qsl(request.url.query) if k != "_offset"]
        offset = int(dict(parse_qsl(request.url.query)).get("_offset", 0))
        count = min(int(dict(params).get("_count", self.max_count)), self.max_count)
        found = self.search(rtype, params)
        page = found[offset: offset + count]
        self.served_resources += len(page)
        links = [{"relation": "self", "url": f"{self.base_url}/{rtype}?{urlencode(params)}"}]
        if offset + count < len(found):
            links.append({"relation": "next",
                          "url": f"{self.base_url}/{rtype}?{urlencode([*params, ('_offset', offset + count)])}"})
        return self._answer({"resourceType": "Bundle", "type": "searchset", "total": len(found), "link": links,
                             "entry": [{"resource": r, "search": {"mode": "match"}} for r in page]})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(server: FhirServer) -> Iterator[FhirServer]:
    """Serve ``server`` on 127.0.0.1 (a free port) for the ``with`` block; ``server.base_url`` is its FHIR base."""
    port = _free_port()
    server.base_url = f"http://127.0.0.1:{port}/fhir"
    app = Starlette(routes=[Route("/fhir/{path:path}", server.handle)])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline:  # pragma: no cover - a machine that cannot start a server
            raise RuntimeError("the loopback FHIR server did not start")
        time.sleep(0.01)
    try:
        yield server
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
