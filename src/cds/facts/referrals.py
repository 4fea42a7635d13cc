"""CGA done or referred: the latest day a comprehensive geriatric assessment was performed or requested.

A Procedure or a ServiceRequest coded in ``clin.cga-procedure`` counts, so the
referral a clinician accepted from the cga-referral card (a ServiceRequest with
the card's own coding, status draft or active) stops the card from firing again.
Requests that were revoked or entered in error do not count. A request or
procedure without a date counts as today when it belongs to the current stay or
has no encounter at all (so an undated accepted suggestion never re-fires the
card); otherwise it is left out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cds.facts.clinical import procedure_date
from cds.facts.context import BuildContext, as_datetime

__all__ = ["cga_facts"]

CGA_VALUE_SET = "clin.cga-procedure"
_REQUEST_COUNTS = frozenset({"draft", "active", "on-hold", "completed"})
_PROCEDURE_COUNTS = frozenset({"completed", "in-progress"})


def cga_facts(ctx: BuildContext) -> dict[str, Any]:
    """last_cga: the latest day of a CGA procedure or referral; None (unknown) when none is found."""
    days: list[date] = []
    for procedure in ctx.with_valueset("Procedure", CGA_VALUE_SET, "code"):
        if procedure.status in _PROCEDURE_COUNTS:
            days.extend(_day(ctx, procedure, procedure_date(procedure)))
    for request in ctx.with_valueset("ServiceRequest", CGA_VALUE_SET, "code"):
        if request.status in _REQUEST_COUNTS:
            days.extend(_day(ctx, request, request.authoredOn))
    return {"last_cga": max(days)} if days else {}


def _day(ctx: BuildContext, resource: Any, moment: Any) -> list[date]:
    when = as_datetime(moment, ctx.tz)
    if when is not None:
        day = when.astimezone(ctx.tz).date()
        return [day] if day <= ctx.now.date() else []
    if getattr(resource, "encounter", None) is None or ctx.refers_to_current_encounter(resource):
        return [ctx.now.date()]
    return []
