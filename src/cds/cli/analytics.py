"""`cds analytics`: what happened to the cards shown, from the audit store.

    cds analytics --from 2026-11-01 --to 2026-12-01 --by rule --by site
    cds analytics --by version --json
    cds analytics --comments            # quality team only: free text may name patients

A date is midnight and a time without an offset is clinical time (Europe/Oslo,
setting ``clinical_timezone``), as for every time option (`cds.cli._time`); ``--to`` is exclusive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import typer

from cds.cli import UserError
from cds.cli._time import NAIVE_IS_CLINICAL, cli_zone, parse_time

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cds.quality.analytics import CardAnalytics

DEFAULT_DAYS = 30


def analytics(
    database: str | None = typer.Option(
        None, "--database", help="database URL (default: CDS_DATABASE_URL, else CDS_DATA_DIR/cds.sqlite3)"
    ),
    start: str | None = typer.Option(
        None, "--from", help=f"first day (from midnight) or instant counted, {NAIVE_IS_CLINICAL} (default: 30 days before --to)"
    ),
    end: str | None = typer.Option(None, "--to", help=f"day (its midnight) or instant the period ends, exclusive, {NAIVE_IS_CLINICAL} (default: now)"),
    by: list[str] = typer.Option(
        ["rule", "topic"], "--by", help="group by rule, version, topic or site; repeat to combine"
    ),
    top: int = typer.Option(5, "--top", min=0, help="override reasons and comments listed per group"),
    comments: bool = typer.Option(
        False, "--comments", help="also list clinicians' recent override comments (may contain patient details)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Cards shown, accepted, overridden and ignored, acceptance rate and top override reasons."""
    from cds.quality.analytics import card_analytics

    engine = _open_engine(database)
    period_end = _parse_when(end, "--to") if end else datetime.now(UTC)
    period_start = _parse_when(start, "--from") if start else period_end - timedelta(days=DEFAULT_DAYS)
    try:
        report = card_analytics(
            engine, start=period_start, end=period_end, by=by, top=top, include_comments=comments
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        typer.echo(render_text(report))


def register(app: typer.Typer) -> None:
    app.command("analytics")(analytics)


# ---------------------------------------------------------------------------- helpers


def _open_engine(database: str | None) -> Engine:
    from sqlalchemy.exc import SQLAlchemyError

    from cds.store import (
        StoreError,
        create_store_engine,
        current_revision,
        default_database_url,
        display_url,
        head_revision,
    )
    from cds.store.engine import parse_url, sqlite_path

    url = database or default_database_url()
    try:
        path = sqlite_path(parse_url(url))
    except StoreError as exc:
        raise UserError(str(exc)) from None
    if path is not None and not path.exists():
        raise UserError(
            f"no audit database at {path} (the service creates it; use --database or CDS_DATABASE_URL)"
        )
    engine = create_store_engine(url, create_directory=False)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise UserError(f"cannot read the audit store at {display_url(url)}: {reason}") from None
    if revision != head_revision():
        engine.dispose()
        found = "no audit schema" if revision is None else f"schema revision {revision}"
        raise UserError(
            f"{display_url(url)} has {found}, this version needs {head_revision()}: start the service once to migrate"
        )
    return engine


def _parse_when(value: str, option: str) -> datetime:
    """A date (midnight, clinical time) or an ISO 8601 instant (clinical time unless it carries an offset)."""
    return parse_time(value, option, cli_zone())


def render_text(report: CardAnalytics) -> str:
    """The report as a plain-text table with reasons (and comments when included) below it."""
    from cds.quality.analytics import CardStats

    dims = [d for d in ("rule_id", "rule_version", "topic", "site") if _grouped(report, d)]
    headers = {"rule_id": "rule", "rule_version": "version", "topic": "topic", "site": "site"}
    by = ", ".join(g.value for g in report.group_by)
    lines = [
        f"Card analytics {report.start.isoformat()} to {report.end.isoformat()} (cards served in the period, by {by})",
        "",
    ]
    if report.total.shown == 0:
        lines.append("No cards were served in this period.")
        return "\n".join(lines)

    def key_text(stats: CardStats) -> list[str]:
        return [_text(getattr(stats, d)) for d in dims]

    table = [[headers[d] for d in dims] + ["shown", "accepted", "overridden", "ignored", "acceptance"]]
    for stats in (*report.groups, report.total):
        keys = key_text(stats) if stats is not report.total else ["total"] + [""] * (len(dims) - 1)
        table.append(keys + [str(stats.shown), str(stats.accepted), str(stats.overridden), str(stats.ignored),
                             _rate(stats.acceptance_rate)])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        cells = [cell.ljust(widths[i]) if i < len(dims) else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == len(table) - 2:
            lines.append("-" * len(lines[-1]))

    with_reasons = [g for g in report.groups if g.override_reasons]
    if with_reasons:
        lines += ["", "Top override reasons"]
        for stats in with_reasons:
            lines.append("  " + " / ".join(key_text(stats)))
            for reason in stats.override_reasons:
                label = "(no reason given)"
                if reason.code is not None:
                    label = f"{reason.code}  {reason.display or ''}".rstrip()
                lines.append(f"    {reason.count:>5}  {label}")
    if report.comments_included:
        lines += ["", "Recent override comments (quality team only: may contain patient details)"]
        listed = [g for g in report.groups if g.comments]
        if not listed:
            lines.append("  none")
        for stats in listed:
            lines.append("  " + " / ".join(key_text(stats)))
            for comment in stats.comments:
                where = f"v{comment.rule_version}" + (f" {comment.site}" if comment.site else "")
                flat = " ".join(comment.text.split())
                lines.append(f"    {comment.at:%Y-%m-%d %H:%M}  {where}  \"{flat}\"")
    return "\n".join(lines)


def _grouped(report: CardAnalytics, dim: str) -> bool:
    names = {g.value for g in report.group_by}
    return {
        "rule_id": bool(names & {"rule", "version"}),
        "rule_version": "version" in names,
        "topic": "topic" in names,
        "site": "site" in names,
    }[dim]


def _text(value: str | None) -> str:
    return "(none)" if value is None else value


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"
