"""PostgreSQL stopped and started under load: no answered call without its audit row, no acknowledged feedback lost.

A private PostgreSQL cluster (Debian's initdb/pg_ctl) backs a real ``cds serve``.
Clients send hook calls and feedback without pause while the database is
stopped fast, started, crashed (immediate stop) and started again. Afterwards,
once the service has written its spool: every hook call answered 200 has
exactly one ``calls`` row, every feedback item acknowledged (200, or 202 =
spooled) is stored exactly once, feedback was only ever refused with 503 and
``Retry-After``, and no request failed at the transport level or with a 500.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from .served import PrivatePostgres, Served

REQUEST = Path(__file__).resolve().parents[2] / "fhir_examples" / "requests" / "a-ingrid-haugen.encounter-discharge.json"


class Load:
    """Hook calls and feedback in threads until stopped; what was answered, acknowledged and refused."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.body = json.loads(REQUEST.read_text(encoding="utf-8"))
        self.answered: list[str] = []
        self.acknowledged: list[str] = []
        self.refused: list[tuple[int, str | None]] = []
        self.failures: list[str] = []
        self.cards: list[str] = []  # uuids of cards served, each answered once by the feedback thread
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._calls) for _ in range(2)] + [threading.Thread(target=self._feedback)]

    def _calls(self) -> None:
        while not self.stop.is_set():
            instance = str(uuid.uuid4())
            try:
                status, _, answer = self.served.request("POST", "/cds-services/discharge-pathway",
                                                        self.body | {"hookInstance": instance})
            except OSError as exc:
                self.failures.append(f"hook call: {type(exc).__name__}")
                continue
            if status == 200:
                self.answered.append(instance)
                self.cards.extend(card["uuid"] for card in json.loads(answer)["cards"])
            else:
                self.failures.append(f"hook call answered {status}")

    def _feedback(self) -> None:
        while not self.stop.is_set():
            try:
                card = self.cards.pop()  # feedback is about a card the service served (anything else is a 400)
            except IndexError:
                time.sleep(0.02)
                continue
            item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:40:00Z"}
            try:
                status, headers, _ = self.served.request("POST", "/cds-services/discharge-pathway/feedback",
                                                         {"feedback": [item]})
            except OSError as exc:
                self.failures.append(f"feedback: {type(exc).__name__}")
                continue
            if status in (200, 202):
                self.acknowledged.append(card)
            elif status == 503:
                self.refused.append((status, headers.get("retry-after")))
            else:
                self.failures.append(f"feedback answered {status}")
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_stopping_and_crashing_postgresql_under_load_loses_no_audit_row_and_no_acknowledged_feedback(tmp_path):
    database = PrivatePostgres()
    try:
        database.start()
        env = {"CDS_DATABASE_URL": database.url, "CDS_RULES_POLL_SECONDS": "0.5"}
        with Served(tmp_path / "service", env) as served, Load(served) as load:
            time.sleep(2)
            database.stop("fast")
            time.sleep(3)
            database.start()
            time.sleep(2)
            database.stop("immediate")
            time.sleep(3)
            database.start()
            time.sleep(2)
        assert load.failures == []
        assert len(load.answered) > 50 and len(load.acknowledged) > 20
        assert all(retry is not None and retry.isdigit() for _, retry in load.refused)
        engine = create_engine(database.url)
        try:
            deadline = time.monotonic() + 30
            while True:  # the service writes its spool within a second or so of the database coming back
                with engine.connect() as conn:
                    calls = conn.execute(text("select hook_instance from calls")).scalars().all()
                    feedback = conn.execute(text("select card_uuid from feedback")).scalars().all()
                if set(load.answered) <= set(calls) and set(load.acknowledged) <= set(feedback):
                    break
                assert time.monotonic() < deadline, (
                    f"{len(set(load.answered) - set(calls))} answered calls without an audit row, "
                    f"{len(set(load.acknowledged) - set(feedback))} acknowledged feedback items not stored")
                time.sleep(0.5)
        finally:
            engine.dispose()
        assert len(calls) == len(set(calls)), "a call was recorded twice"
        assert len(feedback) == len(set(feedback)), "a feedback item was stored twice"
        assert "Traceback" not in served.text()
        assert "go to the spool" in served.text(), "the outage was meant to send rows to the spool"
    finally:
        database.close()
