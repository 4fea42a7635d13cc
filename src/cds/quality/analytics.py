"""Card analytics: what happened to the cards the service showed.

Read-only queries over the audit store (`cds.store`). For the cards served in
a period ``[start, end)`` and grouped by rule, rule version, topic and/or site:

shown
    cards served in the period (by the time of the call);
accepted / overridden
    cards whose *latest* feedback item says so (feedback may arrive after the
    period ends and still counts; a card overridden and later accepted counts
    as accepted);
ignored
    cards with no feedback at all. Some EHRs never send feedback, so read this
    as "no feedback received", not as "the clinician looked away";
acceptance_rate
    ``accepted / shown`` (None when nothing was shown);
override_reasons
    the most frequent coded override reasons of the overridden cards, with a
    ``None`` code for overrides that gave no reason;
comments
    the most recent free-text override comments. They are written by
    clinicians and may name patients, so they are left out unless the caller
    asks for them (``include_comments=True``); show them to the quality team only.

Feedback is matched to a card by card uuid *and* service id.

>>> from datetime import datetime, UTC
>>> from cds.store import AuditStore
>>> store = AuditStore.open("sqlite://", pseudonym_key=b"0123456789abcdef")
>>> report = card_analytics(store.engine, start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 2, 1, tzinfo=UTC))
>>> report.total.shown, report.total.acceptance_rate
(0, None)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Engine, and_, func, select
from sqlalchemy.sql import Subquery

from cds.store.models import Call, Card, Feedback

DEFAULT_TOP = 5


class GroupBy(StrEnum):
    """A dimension to group cards by."""

    rule = "rule"  # rule id
    version = "version"  # rule id and rule version
    topic = "topic"
    site = "site"


DEFAULT_GROUP_BY: tuple[GroupBy, ...] = (GroupBy.rule, GroupBy.topic)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReasonCount(_Frozen):
    """How often one coded override reason was given (``code`` None: no reason given)."""

    system: str | None
    code: str | None
    display: str | None
    count: int


class Comment(_Frozen):
    """A clinician's free-text override comment (may contain patient details: quality team only)."""

    text: str
    at: datetime
    rule_id: str
    rule_version: str
    topic: str
    site: str | None


class CardStats(_Frozen):
    """Counts for one group of cards. A dimension not grouped by is None."""

    rule_id: str | None = None
    rule_version: str | None = None
    topic: str | None = None
    site: str | None = None
    shown: int
    accepted: int
    overridden: int
    ignored: int
    acceptance_rate: float | None
    override_reasons: tuple[ReasonCount, ...] = ()
    comments: tuple[Comment, ...] = ()


class CardAnalytics(_Frozen):
    """The analytics of one period: one row per group, and the total."""

    start: datetime
    end: datetime
    group_by: tuple[GroupBy, ...]
    comments_included: bool
    groups: tuple[CardStats, ...]
    total: CardStats


def card_analytics(
    engine: Engine,
    *,
    start: datetime,
    end: datetime,
    by: Sequence[GroupBy | str] = DEFAULT_GROUP_BY,
    top: int = DEFAULT_TOP,
    include_comments: bool = False,
) -> CardAnalytics:
    """Card analytics for cards served in ``[start, end)`` grouped by ``by`` (see the module docstring).

    ``start`` and ``end`` must be timezone-aware; ``top`` limits the override
    reasons and the comments listed per group.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("the period is empty: end must be after start")
    if top < 0:
        raise ValueError("top must not be negative")
    dims = _dimensions(by)
    cards = _cards_in_period(start, end)
    key_cols = [cards.c[name] for name in dims]
    with engine.connect() as conn:
        # One pass over the period's cards: counts per group, outcome and override reason.
        tallies = conn.execute(
            select(
                *key_cols,
                cards.c.outcome,
                cards.c.override_system,
                cards.c.override_code,
                func.max(cards.c.override_display).label("display"),
                func.count().label("n"),
            ).group_by(*key_cols, cards.c.outcome, cards.c.override_system, cards.c.override_code)
        ).all()
        comment_rows = conn.execute(_recent_comments(cards, dims, top)).all() if include_comments and top else []

    per_group: dict[tuple[Any, ...], _Tally] = {}
    total = _Tally()
    for row in tallies:
        key = tuple(row[: len(dims)])
        for tally in (per_group.setdefault(key, _Tally()), total):
            tally.add(row.outcome, row.override_system, row.override_code, row.display, int(row.n))
    comments = [(tuple(row[: len(dims)]), _comment(row)) for row in comment_rows]
    for key, comment in comments:
        per_group[key].comments.append(comment)
    total.comments = sorted((c for _, c in comments), key=lambda c: c.at, reverse=True)[:top]

    groups = [tally.stats(dict(zip(dims, key, strict=True)), top) for key, tally in per_group.items()]
    groups.sort(key=lambda g: (-g.shown, *(("" if getattr(g, d) is None else getattr(g, d)) for d in dims)))
    return CardAnalytics(
        start=start,
        end=end,
        group_by=tuple(GroupBy(d) for d in _group_names(by)),
        comments_included=include_comments,
        groups=tuple(groups),
        total=total.stats({}, top),
    )


class _Tally:
    """Running counts for one group while the query result is read."""

    def __init__(self) -> None:
        self.shown = self.accepted = self.overridden = 0
        self.reasons: dict[tuple[str | None, str | None], list[Any]] = {}  # (system, code) -> [display, count]
        self.comments: list[Comment] = []

    def add(self, outcome: str | None, system: str | None, code: str | None, display: str | None, n: int) -> None:
        self.shown += n
        if outcome == "accepted":
            self.accepted += n
        elif outcome == "overridden":
            self.overridden += n
            entry = self.reasons.setdefault((system, code), [display, 0])
            entry[0] = max((d for d in (entry[0], display) if d is not None), default=None)
            entry[1] += n

    def stats(self, key: dict[str, Any], top: int) -> CardStats:
        reasons = [ReasonCount(system=s, code=c, display=d, count=n) for (s, c), (d, n) in self.reasons.items()]
        return CardStats(
            **key,
            shown=self.shown,
            accepted=self.accepted,
            overridden=self.overridden,
            ignored=self.shown - self.accepted - self.overridden,
            acceptance_rate=(self.accepted / self.shown) if self.shown else None,
            override_reasons=tuple(_top_reasons(reasons, top)),
            comments=tuple(self.comments),
        )


# ---------------------------------------------------------------------------- query pieces

_DIMENSION_COLUMNS: dict[GroupBy, tuple[str, ...]] = {
    GroupBy.rule: ("rule_id",),
    GroupBy.version: ("rule_id", "rule_version"),
    GroupBy.topic: ("topic",),
    GroupBy.site: ("site",),
}
_COLUMN_ORDER = ("rule_id", "rule_version", "topic", "site")


def _group_names(by: Sequence[GroupBy | str]) -> list[str]:
    names: list[str] = []
    for value in by:
        try:
            name = GroupBy(value).value
        except ValueError:
            choices = ", ".join(g.value for g in GroupBy)
            raise ValueError(f"cannot group by {value!r}: choose from {choices}") from None
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("group by at least one of: " + ", ".join(g.value for g in GroupBy))
    return names


def _dimensions(by: Sequence[GroupBy | str]) -> list[str]:
    wanted = {col for name in _group_names(by) for col in _DIMENSION_COLUMNS[GroupBy(name)]}
    return [col for col in _COLUMN_ORDER if col in wanted]


def _cards_in_period(start: datetime, end: datetime) -> Subquery:
    """One row per card served in ``[start, end)`` with its call's site and its latest feedback.

    The latest feedback item of a card is found by a correlated subquery on
    ``feedback(card_uuid)`` (an index lookup per card), then joined by primary key.
    """
    cards, calls, fb = Card.__table__, Call.__table__, Feedback.__table__
    when = func.coalesce(fb.c.outcome_at, fb.c.received_at)
    latest_id = (
        select(fb.c.id)
        .where(fb.c.card_uuid == cards.c.uuid, fb.c.service_id == calls.c.service_id)
        .order_by(when.desc(), fb.c.id.desc())
        .limit(1)
        .correlate(cards, calls)
        .scalar_subquery()
    )
    in_period: ColumnElement[bool] = and_(calls.c.at >= start, calls.c.at < end)
    served = (
        select(cards.c.rule_id, cards.c.rule_version, cards.c.topic, calls.c.site, latest_id.label("feedback_id"))
        .select_from(cards.join(calls, cards.c.call_id == calls.c.id))
        .where(in_period)
        .subquery("served")
    )
    return (
        select(
            served.c.rule_id,
            served.c.rule_version,
            served.c.topic,
            served.c.site,
            fb.c.outcome,
            fb.c.override_system,
            fb.c.override_code,
            fb.c.override_display,
            fb.c.user_comment,
            when.label("feedback_at"),
        )
        .select_from(served.outerjoin(fb, fb.c.id == served.c.feedback_id))
        .subquery("period_cards")
    )


def _recent_comments(cards: Subquery, dims: list[str], top: int) -> Any:
    key_cols = [cards.c[name] for name in dims]
    ranked = (
        select(
            *key_cols,
            cards.c.user_comment,
            cards.c.feedback_at,
            cards.c.rule_id.label("c_rule_id"),
            cards.c.rule_version.label("c_rule_version"),
            cards.c.topic.label("c_topic"),
            cards.c.site.label("c_site"),
            func.row_number()
            .over(partition_by=key_cols, order_by=cards.c.feedback_at.desc())
            .label("rank"),
        )
        .where(cards.c.user_comment.is_not(None))
        .subquery("ranked_comments")
    )
    return select(ranked).where(ranked.c.rank <= top).order_by(ranked.c.feedback_at.desc())


# ---------------------------------------------------------------------------- assembling results


def _comment(row: Any) -> Comment:
    at = row.feedback_at
    return Comment(
        text=row.user_comment,
        at=at,
        rule_id=row.c_rule_id,
        rule_version=row.c_rule_version,
        topic=row.c_topic,
        site=row.c_site,
    )


def _top_reasons(reasons: list[ReasonCount], top: int) -> list[ReasonCount]:
    ordered = sorted(reasons, key=lambda r: (-r.count, r.code is None, r.code or "", r.system or ""))
    return ordered[:top]
