"""Living situation, residence and municipal services before and after the stay; coordinator and IP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.facts.context import BuildContext, as_datetime, in_utc
from cds.facts.snapshot import ServiceNeed

__all__ = ["service_facts", "service_need"]

_SERVICE_PREFIX = "municipal-service."
_EPISODE_RUNNING = frozenset({"active", "onhold", "finished"})
_REQUEST_INTENTS = frozenset({"proposal", "plan", "directive", "order", "original-order"})
_REQUEST_STATUSES = frozenset({"draft", "active", "on-hold", "completed"})
_HOME_SERVICES = frozenset({"home-nursing", "home-help", "safety-alarm", "everyday-rehabilitation"})
_CARE_TEAM_LIVE = frozenset({"proposed", "active", "suspended"})
_PLAN_ACTIVE = frozenset({"draft", "active", "on-hold"})


def service_need(before: tuple[str, ...] | None, after: tuple[str, ...] | None) -> ServiceNeed | None:
    """Compare services before and after; None when either side is unknown.

    Also None when the patient had services and none is requested for after
    discharge: running services usually continue without a new request, so an
    empty after-list says nothing about the need (it is not a decreased need).
    """
    if before is None or after is None:
        return None
    had, will = set(before), set(after)
    if not had and not will:
        return ServiceNeed.none
    if not had:
        return ServiceNeed.new
    if not will:
        return None
    if had == will:
        return ServiceNeed.unchanged
    if will < had:
        return ServiceNeed.decreased
    return ServiceNeed.increased  # more services, or other services


def service_facts(ctx: BuildContext) -> dict[str, Any]:
    before = _services_before(ctx)
    after = _services_after(ctx)
    return {
        "lives_alone": _lives_alone(ctx),
        "home_dwelling": _home_dwelling(ctx, before),
        "expected_to_live_at_home": _expected_home(ctx, after),
        "municipal_services_before": before,
        "municipal_services_after": after,
        "service_need": service_need(before, after),
        "home_nursing": None if before is None else "home-nursing" in before,
        "has_coordinator": _coordinator(ctx),
        "individual_plan": _individual_plan(ctx),
    }


def _service_codes(ctx: BuildContext, resource: Any, attr: str) -> set[str]:
    return {v.removeprefix(_SERVICE_PREFIX) for v in ctx.valuesets(resource, attr) if v.startswith(_SERVICE_PREFIX)}


def _services_before(ctx: BuildContext) -> tuple[str, ...] | None:
    """Services of EpisodeOfCare resources running when the stay began (or at `now` without an encounter)."""
    if not ctx.known("EpisodeOfCare"):
        return None
    anchor = in_utc(ctx.encounter_start or ctx.now)
    found: set[str] = set()
    for start, end, codes in ctx.derived("EpisodeOfCare", ("episodes", str(ctx.tz)), _episodes, ctx):
        if (start is None or start <= anchor) and (end is None or end >= anchor):
            found |= codes
    return tuple(sorted(found))


def _episodes(ctx: BuildContext) -> tuple[tuple[datetime | None, datetime | None, set[str]], ...]:
    """The running episodes of care that can count: (start, end) in UTC and their service codes (a pure derivation)."""
    out = []
    for episode in ctx.of_type("EpisodeOfCare"):
        if episode.status not in _EPISODE_RUNNING:
            continue
        period = episode.period
        start = as_datetime(getattr(period, "start", None), ctx.tz)
        end = as_datetime(getattr(period, "end", None), ctx.tz)
        if episode.status == "finished" and end is None:
            continue
        out.append((in_utc(start) if start else None, in_utc(end) if end else None, _service_codes(ctx, episode, "type")))
    return tuple(out)


def _services_after(ctx: BuildContext) -> tuple[str, ...] | None:
    """Services requested for after discharge: municipal-service ServiceRequests of this stay.

    Known (possibly empty) only when ServiceRequests are available and discharge
    planning is visible: a municipal ServiceRequest of this stay exists, or the
    current encounter has an end or a discharge disposition. Before that (e.g. at
    admission) the plan is unknown, never 'no services'.
    """
    if not ctx.known("ServiceRequest") or ctx.encounter is None:
        return None
    found: set[str] = set()
    for request in ctx.of_type("ServiceRequest"):
        if request.intent not in _REQUEST_INTENTS or request.status not in _REQUEST_STATUSES:
            continue
        codes = _service_codes(ctx, request, "code")
        if not codes:
            continue
        authored = as_datetime(request.authoredOn, ctx.tz)
        if not _this_stay(ctx, request, authored):
            continue
        found |= codes
    if not found and not _discharge_planned(ctx):
        return None
    return tuple(sorted(found))


def _discharge_planned(ctx: BuildContext) -> bool:
    hospitalization = getattr(ctx.encounter, "hospitalization", None)
    return ctx.encounter_end is not None or getattr(hospitalization, "dischargeDisposition", None) is not None


def _this_stay(ctx: BuildContext, request: Any, authored: datetime | None) -> bool:
    if ctx.refers_to_current_encounter(request):
        return True
    return authored is not None and ctx.encounter_start is not None and authored >= ctx.encounter_start


def _latest_answer(ctx: BuildContext, observation_set: str, answers: dict[str, Any]) -> Any | None:
    """The answer of the most recent Observation coded with `observation_set` whose value is in `answers`."""
    best: tuple[datetime, Any] | None = None
    for observation in ctx.with_valueset("Observation", observation_set, "code"):
        value_sets = ctx.valuesets(observation, "valueCodeableConcept")
        for value_set, answer in answers.items():
            if value_set in value_sets:
                when = as_datetime(observation.effectiveDateTime or observation.issued, ctx.tz) or datetime.min.replace(
                    tzinfo=ctx.tz
                )
                if when <= ctx.now and (best is None or when > best[0]):
                    best = (when, answer)
                break
        else:
            if observation.valueCodeableConcept is not None:
                ctx.issue(observation, f"answer code not in the value sets for {observation_set}")
    return None if best is None else best[1]


def _lives_alone(ctx: BuildContext) -> bool | None:
    answer = _latest_answer(ctx, "observation.living-situation", {"living.alone": True, "living.with-others": False})
    if answer is not None:
        return answer
    # a 'lives alone' finding recorded as an Observation code or a Condition (e.g. ICD-10 Z60.2)
    for observation in ctx.with_valueset("Observation", "living.alone", "code"):
        if observation.valueBoolean is not False:
            return True
    if ctx.with_valueset("Condition", "living.alone", "code"):
        return True
    return None


def _home_dwelling(ctx: BuildContext, before: tuple[str, ...] | None) -> bool | None:
    answer = _latest_answer(ctx, "observation.residence", {"residence.home": True, "residence.institution": False})
    if answer is not None:
        return answer
    if before is not None:
        if "long-term-stay" in before:
            return False
        if set(before) & _HOME_SERVICES:
            return True
    return None


def _expected_home(ctx: BuildContext, after: tuple[str, ...] | None) -> bool | None:
    answer = _latest_answer(
        ctx, "observation.expected-residence", {"residence.home": True, "residence.institution": False}
    )
    if answer is not None:
        return answer
    if after is not None and "long-term-stay" in after:
        return False
    return None


def _coordinator(ctx: BuildContext) -> bool | None:
    for team in ctx.of_type("CareTeam"):
        if team.status is not None and team.status not in _CARE_TEAM_LIVE:
            continue
        for participant in team.participant or ():
            if ctx.has(participant, "role.coordinator", "role"):
                return True
    return False if ctx.known("CareTeam") else None


def _individual_plan(ctx: BuildContext) -> str | None:
    """'active' (draft/active/on-hold), 'declined' (revoked), 'none' when CarePlans are known and none is an IP."""
    status_found: str | None = None
    for plan in ctx.resources.of_type("CarePlan"):
        if not ctx.belongs_to_patient(plan):
            continue
        if not ctx.has(plan, "careplan.individual-plan", "category"):
            continue
        if plan.status in _PLAN_ACTIVE:
            return "active"
        if plan.status == "revoked":
            status_found = "declined"
    if status_found:
        return status_found
    return "none" if ctx.known("CarePlan") else None
