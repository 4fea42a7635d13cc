"""Run persona calls with the cyclic collector off and print how much cyclic garbage they left.

Used by ``tests/service/test_gcfreeze.py`` in a fresh interpreter:

    python tests/service/gc_cycles_check.py process_call|http DATA_DIR

``process_call``: `cds.service.calls.process_call` on every persona request;
``http``: the same requests through the ASGI app of `cds.service.app.create_app`
(routing, body reading, a malformed body, the audit queue), called without an
HTTP client. A first round warms up (imports, compiled rules, caches); after a
collection, two more rounds (every resource parsed again, then found in the
caches) must leave nothing for the collector. Prints the types found, then
``cyclic garbage: N``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cds.evaluation import Evaluator
from cds.fhir.resources import clear_parse_cache
from cds.hooks.services import SERVICES
from cds.hooks.wire import decode_hook_request
from cds.service.app import create_app
from cds.service.calls import process_call
from cds.service.settings import GcSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
BODIES = [path.read_bytes() for path in sorted((ROOT / "fhir_examples" / "requests").glob("*.json"))]
NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")


async def rounds(calls: Callable[[], Awaitable[None]]) -> int:
    await calls()
    gc.collect()
    clear_parse_cache()  # every resource parsed again (new models) ...
    await calls()
    await calls()  # ... and found in the caches
    await asyncio.sleep(0.2)  # background work (the audit writer) takes its share
    gc.set_debug(gc.DEBUG_SAVEALL)
    found = gc.collect()
    gc.set_debug(0)
    for kind, count in Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage).most_common(10):
        print(f"{count:>6}  {kind}")
    gc.garbage.clear()
    return found


async def process_calls(_data_dir: Path) -> int:
    evaluator = Evaluator.from_paths(
        rules_dir=ROOT / "rules", model_dir=ROOT / "models" / "readmission", pseudonym_key=b"gc-check-key-0123456789abcdef"
    )
    services = {s.hook: s for s in SERVICES}

    async def calls() -> None:
        for body in BODIES:
            payload = decode_hook_request(body)
            await process_call(services[payload["hook"]], payload, evaluator=evaluator, sources=lambda _r: None, now=NOW)

    return await rounds(calls)


async def http_calls(data_dir: Path) -> int:
    app = create_app(Settings(data_dir=data_dir, gc=GcSettings(freeze=False)))
    service_ids = {s.hook: s.id for s in SERVICES}

    async def post(path: str, body: bytes) -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080), "headers": [(b"content-type", b"application/json"), (b"host", b"localhost")],
        }
        inbox = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return inbox.pop(0) if inbox else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def calls() -> None:
        statuses = {await post(f"/cds-services/{service_ids[decode_hook_request(b)['hook']]}", b) for b in BODIES}
        statuses.add(await post("/cds-services/frailty-patient-view", b"{not json"))
        assert statuses == {200, 400}, statuses

    async with app.router.lifespan_context(app):
        return await rounds(calls)


def main() -> None:
    path, data_dir = sys.argv[1], Path(sys.argv[2])
    gc.disable()
    run = {"process_call": process_calls, "http": http_calls}[path]
    print(f"cyclic garbage: {asyncio.run(run(data_dir))}")


if __name__ == "__main__":
    main()
