"""The quality dashboard: its own credential, local plotly.js, and charts that render real data.

The browser test drives Debian's headless Chromium with Playwright. It fails
(never skips) when ``CDS_REQUIRE_BROWSER=1`` (set in CI) and Chromium or
Playwright is missing; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cds.hooks.models import FeedbackItem
from cds.quality.backtest import BacktestAggregator
from cds.quality.cohort import generate_cohort
from cds.service.dashboard import dashboard_router
from cds.store import AuditStore
from cds.store.records import CallRecord, CardRecord

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
PASSWORD = "kvalitet-2026-test"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"


def _fill_store(store: AuditStore) -> None:
    """Three months of discharge calls: pathway cards, CGA cards, some accepted, some overridden."""
    rules = [("pathway-a", "pathway-a"), ("pathway-b", "pathway-b"), ("pathway-c", "pathway-c"), ("cga-referral", "cga-referral")]
    n = 0
    for month in range(3):
        for i in range(12 + 4 * month):
            n += 1
            at = NOW - timedelta(days=80 - 30 * month - (i % 20))
            rule, topic = rules[i % 3] if i % 4 else rules[3]
            uuid = f"card-{n}"
            store.record_call(
                CallRecord(
                    service_id="discharge-pathway",
                    hook="encounter-discharge",
                    hook_instance=f"hi-{n}",
                    patient_id=f"patient-{n}",
                    ruleset_digest="d" * 16,
                    duration_ms=3.0,
                    outcome="ok",
                    http_status=200,
                    cards=(CardRecord(uuid, rule, "1.0", "info", topic, ("s1",)),),
                    at=at,
                )
            )
            if i % 3 == 0:
                item = {"card": uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
                        "outcomeTimestamp": at.isoformat()}
            elif i % 3 == 1:
                item = {"card": uuid, "outcome": "overridden", "outcomeTimestamp": at.isoformat(),
                        "overrideReason": {"reason": {"system": "x", "code": "not-relevant"}}}
            else:
                continue
            store.record_feedback("discharge-pathway", [FeedbackItem.model_validate(item)], received_at=at)


def _write_backtest(reports: Path) -> None:
    agg = BacktestAggregator([])
    for pa, pb, ra, rb in [("A", "A", ["pathway-a"], ["pathway-a"]), ("B", "C", ["pathway-b"], ["pathway-c", "coordinator"]),
                           ("C", "C", ["pathway-c", "cga-referral"], ["pathway-c"])] * 3:
        agg.add({"patient": "p_example", "results": [
            {"status": "ok", "pathway": pa, "cards": [{"rule": r, "topic": r} for r in ra], "findings": ra},
            {"status": "ok", "pathway": pb, "cards": [{"rule": r, "topic": r} for r in rb], "findings": rb},
        ]})
    report = agg.report(hook="encounter-discharge", baseline=Path("rules"), candidate=Path("rules-candidate"))
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "backtest.json").write_bytes(report.to_json())
    (reports / "backtest.html").write_text(report.to_html(), encoding="utf-8")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root = tmp_path_factory.mktemp("dashboard")
    generate_cohort(80, 5, root / "export")
    _write_backtest(root / "reports")
    store = AuditStore.open(f"sqlite:///{root / 'audit.db'}", pseudonym_key=b"a dashboard test key!!")
    _fill_store(store)
    application = FastAPI()
    application.include_router(
        dashboard_router(password=PASSWORD, store=store, kpi_dir=root / "export", reports_dir=root / "reports", clock=lambda: NOW)
    )
    yield application
    store.close()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def test_the_dashboard_refuses_a_request_without_credentials(client: TestClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_the_dashboard_refuses_a_wrong_password(client: TestClient) -> None:
    assert client.get("/dashboard", auth=("quality", "wrong")).status_code == 401


def test_a_dashboard_without_a_password_is_not_served() -> None:
    application = FastAPI()
    application.include_router(dashboard_router(password=None))
    assert TestClient(application).get("/dashboard", auth=("quality", "")).status_code == 503


def test_the_page_has_four_charts_and_no_external_script(client: TestClient) -> None:
    page = client.get("/dashboard", auth=("quality", PASSWORD)).text
    for chart in ("kpi", "acceptance", "pathways", "backtest"):
        assert f'id="chart-{chart}"' in page
    assert "cdn." not in page and 'src="http' not in page


def test_plotly_js_is_served_from_the_python_package(client: TestClient) -> None:
    response = client.get("/dashboard/static/plotly.min.js", auth=("quality", PASSWORD))
    assert response.status_code == 200 and "plotly" in response.text[:2000].lower()


def test_the_last_backtest_report_is_linked(client: TestClient) -> None:
    response = client.get("/dashboard/backtest/latest.html", auth=("quality", PASSWORD))
    assert response.status_code == 200 and "Pathway transitions" in response.text


# -- a real browser ------------------------------------------------------------------------------


def _browser_or_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_headless_chromium_renders_every_chart_with_data(server: str) -> None:
    reason = _browser_or_reason()
    if reason is not None:
        if os.environ.get("CDS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CDS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        try:
            page = browser.new_page(http_credentials={"username": "quality", "password": PASSWORD},
                                    viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server}/dashboard", wait_until="load", timeout=120_000)
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length > 0 && "
                "document.querySelectorAll('div.chart').length === "
                "document.querySelectorAll('div.chart.js-plotly-plot').length",
                timeout=120_000,
            )
            points = page.evaluate(
                """() => Array.from(document.querySelectorAll('div.chart')).map(div => ({
                    id: div.dataset.chart,
                    traces: div.querySelectorAll('.main-svg .trace').length,
                    points: (div.data || []).reduce((n, t) => n + ((t.y || t.z || []).flat().filter(v => v !== null && v !== 0).length), 0),
                }))"""
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert {p["id"] for p in points} == {"kpi", "acceptance", "pathways", "backtest"}
    for chart in points:
        assert chart["traces"] > 0, f"{chart['id']} drew no traces"
        assert chart["points"] > 0, f"{chart['id']} has no data points"
