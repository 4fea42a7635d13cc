"""Admission duties and discharge preparation: notices, reports and follow-up appointments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.facts.context import BuildContext, Timeline, as_datetime, reference_of, split_reference

__all__ = ["discharge_facts"]

_COMMUNICATION_DONE = frozenset({"completed", "in-progress"})
_APPOINTMENT_BOOKED = frozenset({"booked", "pending", "arrived", "checked-in"})
_DOCUMENT_CURRENT = frozenset({"current"})


def discharge_facts(ctx: BuildContext) -> dict[str, Any]:
    return {
        "gp_notified": _gp_notified(ctx),
        "early_notice_sent": _early_notice(ctx),
        "admission_report_received": _admission_report(ctx),
        **_appointments(ctx),
    }


def _messages(ctx: BuildContext, value_set: str) -> list[tuple[Any, datetime | None]]:
    """Communications of this stay in the value set, with their sent (else received) time."""
    found, timeline = ctx.derived("Communication", ("messages", value_set, str(ctx.tz)), _sent, ctx, value_set)
    if not found:
        return []
    key = ctx.contact_key(timeline)
    return [message for position, message in enumerate(found) if timeline.in_contact(key, position)]


def _sent(ctx: BuildContext, value_set: str) -> tuple[tuple[tuple[Any, datetime | None], ...], Timeline]:
    """The done Communications in the value set with their time, and their `Timeline` (a pure derivation)."""
    found = []
    for communication in ctx.of_type("Communication"):
        if communication.status not in _COMMUNICATION_DONE:
            continue
        if not ctx.has(communication, value_set, "category", "topic"):
            continue
        found.append((communication, as_datetime(communication.sent or communication.received, ctx.tz)))
    timeline = Timeline.of((reference_of(communication.encounter), when) for communication, when in found)
    return tuple(found), timeline


def _gp_notified(ctx: BuildContext) -> bool | None:
    """True when an admission notice to the GP belongs to this stay; False when Communications are known."""
    if ctx.encounter_id is None:
        return None
    if _messages(ctx, "message.gp-admission-notice"):
        return True
    return False if ctx.known("Communication") else None


def _early_notice(ctx: BuildContext) -> datetime | None:
    """When the first early notice of this stay was sent; None when none is found."""
    times = [when for _, when in _messages(ctx, "message.early-notice") if when is not None]
    return min(times) if times else None


def _admission_report(ctx: BuildContext) -> bool | None:
    """The municipality's admission report, as a Communication or a DocumentReference of this stay."""
    if ctx.encounter_id is None:
        return None
    if _messages(ctx, "message.admission-report"):
        return True
    for document in ctx.of_type("DocumentReference"):
        if document.status not in _DOCUMENT_CURRENT:
            continue
        if not ctx.has(document, "message.admission-report", "type", "category"):
            continue
        linked = any(
            split_reference(reference_of(ref)) == ("Encounter", ctx.encounter_id)
            for ref in (getattr(document.context, "encounter", None) or ())
        )
        if linked or ctx.within_current_encounter(as_datetime(document.date, ctx.tz)):
            return True
    return False if (ctx.known("Communication") or ctx.known("DocumentReference")) else None


def _appointments(ctx: BuildContext) -> dict[str, Any]:
    """follow_up_booked and gp_follow_up_within_days (from the discharge, or `now` while in progress)."""
    if not ctx.known("Appointment"):
        return {}
    discharge = ctx.encounter_end or ctx.now
    gp = ctx.patient.generalPractitioner if ctx.patient is not None else None
    gp_refs = {split_reference(reference_of(r)) for r in gp or ()} - {None}
    booked = False
    gp_days: int | None = None
    for appointment in ctx.of_type("Appointment"):
        if appointment.status not in _APPOINTMENT_BOOKED:
            continue
        start = as_datetime(appointment.start, ctx.tz)
        if start is None or start < discharge:
            continue
        booked = True
        if _is_gp(ctx, appointment, gp_refs):
            days = (start.astimezone(ctx.tz).date() - discharge.astimezone(ctx.tz).date()).days
            gp_days = days if gp_days is None else min(gp_days, days)
    return {"follow_up_booked": booked, "gp_follow_up_within_days": gp_days}


def _is_gp(ctx: BuildContext, appointment: Any, gp_refs: set[Any]) -> bool:
    if ctx.has(appointment, "specialty.general-practice", "specialty", "serviceType"):
        return True
    actors = {split_reference(reference_of(p.actor)) for p in appointment.participant or ()}
    return bool(actors & gp_refs)
