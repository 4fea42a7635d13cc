"""The quality team's dashboard: ``GET /dashboard`` (HTML with Plotly charts), behind HTTP Basic auth.

Charts: KPI trends against their targets (from a bulk NDJSON export, see
``docs/kpi-definitions.md``), card acceptance and override by rule and the
pathway mix per month (from the audit store via `cds.quality.analytics`), and
the last backtest report (the newest ``*.json`` written by ``cds backtest
--report`` in the reports directory; its HTML is served beside it).

plotly.js is served from the ``plotly`` Python package itself
(``/dashboard/static/plotly.min.js``): the page needs no internet.

Mount with ``app.include_router(dashboard_router(...))``. The dashboard has its
own credential (HTTP Basic, user and password from configuration), separate
from the CDS Hooks client authentication; without a password it answers 503.
"""

from __future__ import annotations

import secrets
from html import escape
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials

__all__ = ["PLOTLY_JS", "dashboard_router"]

PLOTLY_JS = Path(__import__("plotly").__file__).parent / "package_data" / "plotly.min.js"
_REALM = 'Basic realm="cds-quality-dashboard", charset="UTF-8"'
_PATHWAY_TOPICS = {"pathway-a": "A", "pathway-b": "B", "pathway-c": "C"}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _month_starts(end: datetime, months: int) -> list[datetime]:
    first = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [first]
    for _ in range(months - 1):
        prev = starts[-1] - timedelta(days=1)
        starts.append(prev.replace(day=1))
    return list(reversed(starts))


class _KpiCache:
    """KPI rows per month of one export directory, recomputed when its files change."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._key: tuple[Any, ...] | None = None
        self._value: Any = None
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[Any, ...]:
        assert self.directory is not None
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self.directory.glob("*.ndjson")))

    def rows(self) -> Any:
        from cds.quality.kpi_report import kpi_report

        if self.directory is None or not self.directory.is_dir():
            return None
        with self._lock:
            stamp = self._stamp()
            if stamp != self._key:
                self._value = kpi_report(self.directory, by="month")
                self._key = stamp
            return self._value


def _latest_backtest(reports_dir: Path | None) -> tuple[dict[str, Any], Path] | None:
    if reports_dir is None or not reports_dir.is_dir():
        return None
    candidates = sorted(reports_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(data, dict) and "transitions" in data and "rule_gains" in data:
            return data, path
    return None


def _figure_json(fig: Any) -> str:
    return fig.to_json().replace("</", "<\\/")


def dashboard_router(
    *,
    password: str | None,
    username: str = "quality",
    store: Any | None = None,
    flush: Callable[[], None] | None = None,
    kpi_dir: Path | None = None,
    reports_dir: Path | None = None,
    months: int = 12,
    clock: Callable[[], datetime] = _utc_now,
    prefix: str = "/dashboard",
) -> APIRouter:
    """The dashboard's routes. ``store``: an `AuditStore` (or None: no card charts).

    ``flush``: called before the store is read, so calls still queued for
    writing (`cds.store.writer.AuditWriter.flush`) are counted.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    security = HTTPBasic(auto_error=False, realm="cds-quality-dashboard")
    templates = Environment(loader=PackageLoader("cds.quality", "templates"), autoescape=select_autoescape(["html"]))
    kpis = _KpiCache(kpi_dir)
    router = APIRouter(prefix=prefix, tags=["dashboard"], include_in_schema=False)

    def authorised(credentials: HTTPBasicCredentials | None = Depends(security)) -> None:
        if not password:
            raise HTTPException(status_code=503, detail="the dashboard is not configured (no dashboard password set)")
        ok = credentials is not None and (
            secrets.compare_digest(credentials.username.encode(), username.encode())
            & secrets.compare_digest(credentials.password.encode(), password.encode())
        )
        if not ok:
            raise HTTPException(status_code=401, detail="dashboard credentials required", headers={"WWW-Authenticate": _REALM})

    @router.get("/static/plotly.min.js", dependencies=[Depends(authorised)])
    def plotly_js() -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "private, max-age=86400"})

    @router.get("/backtest/latest.html", dependencies=[Depends(authorised)])
    def latest_backtest_html() -> Response:
        latest = _latest_backtest(reports_dir)
        html_path = latest[1].with_suffix(".html") if latest else None
        if html_path is None or not html_path.is_file():
            raise HTTPException(status_code=404, detail="no backtest report yet (run cds backtest --report)")
        return FileResponse(html_path, media_type="text/html")

    @router.get("", response_class=HTMLResponse, dependencies=[Depends(authorised)])
    def dashboard(request: Request) -> HTMLResponse:
        from cds.quality import dashboard_data as dd

        now = clock()
        charts: list[dict[str, Any]] = []
        report = kpis.rows()
        charts.append(
            {
                "id": "kpi",
                "title": "KPI-er mot mål / KPIs against targets",
                "figure": _figure_json(dd.kpi_figure(report.rows, report.config)) if report else None,
                "empty": "No KPI data: configure the dashboard's export directory.",
                "note": (
                    f"{report.patients} patients, {report.start} .. {report.end}. Targets from the seeds "
                    "(004:18-109); interim target: 50% of the goal after one year, 100% after two (004:61-63)."
                    if report
                    else None
                ),
            }
        )
        if store is not None:
            from cds.quality.analytics import card_analytics

            if flush is not None:
                flush()
            start = _month_starts(now, months)[0]
            by_rule = card_analytics(store.engine, start=start, end=now, by=["rule"])
            charts.append(
                {
                    "id": "acceptance",
                    "title": "Kort akseptert og overstyrt per regel / Card acceptance and override by rule",
                    "figure": _figure_json(dd.acceptance_figure(by_rule.groups)) if by_rule.groups else None,
                    "empty": "No cards served in the period.",
                    "note": f"Cards served {start.date()} .. {now.date()}; 'no feedback' means the EHR sent none.",
                }
            )
            monthly: list[tuple[str, dict[str, int]]] = []
            starts = _month_starts(now, months)
            for month_start, month_end in zip(starts, [*starts[1:], now], strict=True):
                if month_end <= month_start:
                    continue
                stats = card_analytics(store.engine, start=month_start, end=month_end, by=["topic"])
                counts = {_PATHWAY_TOPICS[g.topic]: g.shown for g in stats.groups if g.topic in _PATHWAY_TOPICS}
                monthly.append((month_start.strftime("%Y-%m"), counts))
            has_pathways = any(counts for _, counts in monthly)
            charts.append(
                {
                    "id": "pathways",
                    "title": "Forløpsfordeling over tid / Pathway mix over time",
                    "figure": _figure_json(dd.pathway_figure(monthly)) if has_pathways else None,
                    "empty": "No pathway cards served in the period.",
                    "note": None,
                }
            )
        latest = _latest_backtest(reports_dir)
        charts.append(
            {
                "id": "backtest",
                "title": "Siste backtest / Last backtest",
                "figure": _figure_json(dd.backtest_figure(latest[0])) if latest else None,
                "empty": "No backtest report yet: run cds backtest --report into the reports directory.",
                "note": f'<a href="{prefix}/backtest/latest.html">Full report</a> (baseline '
                f"{escape(str(latest[0].get('baseline', '?')))}, candidate {escape(str(latest[0].get('candidate', '?')))})"
                if latest
                else None,
            }
        )
        page = templates.get_template("dashboard.html").render(
            charts=charts,
            plotly_src=f"{prefix}/static/plotly.min.js",
            subtitle=f"Updated {now.strftime('%Y-%m-%d %H:%M')} UTC",
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    return router
