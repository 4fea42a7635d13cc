"""Checking feedback against the cards the service issued, before anything is stored.

Feedback refers to a card by its uuid and may carry an override reason and
accepted suggestion ids. Stored verbatim, any of these fields could carry free
text (a name, a fødselsnummer) into the audit store where nobody expects it.
So every field but the clinician's ``userComment`` must be something the
service itself issued or defines:

* ``card``: a UUID of a card this service served (in the audit store);
* ``outcomeTimestamp``: an ISO 8601 date-time (date and time);
* ``acceptedSuggestions[].id``: a suggestion uuid of that card;
* ``overrideReason.reason``: a code from the card's own override reasons (the
  rule's ``card.override_reasons`` in the serving rule set; when that rule is no
  longer in the set, any code in the rule-file code format), and the system the
  service's cards use.

Anything else refuses the whole request with a 400 naming each bad item (nothing
of it is stored). ``userComment`` is the only free text kept, and
`cds.store.AuditStore.redact_comments` wipes it with the override display.

A card served by another worker or instance may still sit in that writer's
queue for a moment: a card not found is looked for again for up to
`UNKNOWN_CARD_WAIT_SECONDS` before it is refused.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cds.cards.plans import OVERRIDE_REASON_SYSTEM
from cds.hooks.models import FeedbackItem

__all__ = ["UNKNOWN_CARD_WAIT_SECONDS", "card_problems", "find_served_cards", "offline_problems", "shape_problems"]

#: How long a card uuid that is not (yet) in the audit store is looked for before the feedback is refused.
UNKNOWN_CARD_WAIT_SECONDS = 1.0
_RETRY_SECONDS = 0.1
_RULE_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # the format of override reason codes in rule files


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _is_date_time(value: str) -> bool:
    if "T" not in value and "t" not in value:
        return False
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def shape_problems(items: Sequence[FeedbackItem]) -> list[str]:
    """What is wrong with the items on their own: card not a UUID, outcomeTimestamp not a date-time."""
    problems = []
    for index, item in enumerate(items):
        if not _is_uuid(item.card):
            problems.append(f"feedback[{index}].card: not the uuid of a card this service issued")
        if not _is_date_time(item.outcomeTimestamp):
            problems.append(f"feedback[{index}].outcomeTimestamp: not an ISO 8601 date-time "
                            "(e.g. 2026-11-20T10:05:00Z)")
    return problems


def find_served_cards(lookup: Callable[[list[str]], Mapping[str, Any]], uuids: list[str],
                      *, wait_seconds: float = UNKNOWN_CARD_WAIT_SECONDS) -> Mapping[str, Any]:
    """``lookup(uuids)``, asked again for up to ``wait_seconds`` while some cards are not found."""
    deadline = time.monotonic() + wait_seconds
    found = lookup(uuids)
    while len(found) < len(set(uuids)) and time.monotonic() < deadline:
        time.sleep(_RETRY_SECONDS)
        found = lookup(uuids)
    return found


def _override_codes(rules: Any, rule_id: str) -> set[str] | None:
    """The override reason codes of ``rule_id`` in the serving rule set; None when the set has no such rule."""
    if rules is None or not rule_id:
        return None
    variants = [rule for rule in rules.current().rules if rule.id == rule_id]
    if not variants:
        return None
    return {reason.code for rule in variants if rule.definition.card is not None
            for reason in rule.definition.card.override_reasons}


def card_problems(items: Sequence[FeedbackItem], served: Mapping[str, Any], rules: Any, *,
                  unconfirmed_ok: bool = False) -> list[str]:
    """What is wrong with the items against the cards served (``uuid -> ServedCard``) and the rule set.

    ``unconfirmed_ok``: a card not found may still be on its way to the store (its call waits in the audit
    spool after an outage); such an item is checked as `offline_problems` does instead of refused.
    """
    problems = []
    for index, item in enumerate(items):
        where = f"feedback[{index}]"
        card = served.get(item.card)
        if card is None:
            if unconfirmed_ok:
                problems += offline_problems([item], first_index=index)
            else:
                problems.append(f"{where}.card: not the uuid of a card this service issued")
            continue
        for suggestion in item.acceptedSuggestions or ():
            if suggestion.id not in card.suggestion_ids:
                problems.append(f"{where}.acceptedSuggestions: '{_short(suggestion.id)}' is not a suggestion "
                                "of that card")
        problems += _reason_problems(where, item, _override_codes(rules, card.rule_id))
    return problems


def offline_problems(items: Sequence[FeedbackItem], *, first_index: int = 0) -> list[str]:
    """What can be checked without the served cards (the store unreachable, or the card still in the spool).

    Such feedback is kept with its card unconfirmed, but no field may carry free text: suggestion ids must be
    UUIDs, override reasons the service's system and a code in the rule-file code format.
    """
    problems = []
    for index, item in enumerate(items, start=first_index):
        where = f"feedback[{index}]"
        for suggestion in item.acceptedSuggestions or ():
            if not _is_uuid(suggestion.id):
                problems.append(f"{where}.acceptedSuggestions: '{_short(suggestion.id)}' is not a suggestion uuid")
        problems += _reason_problems(where, item, None)
    return problems


def _reason_problems(where: str, item: FeedbackItem, codes: set[str] | None) -> list[str]:
    """The override reason against the card's own codes (``None``: any code in the rule-file code format)."""
    reason = item.overrideReason.reason if item.overrideReason else None
    if reason is None:
        return []
    problems = []
    if reason.system is not None and reason.system != OVERRIDE_REASON_SYSTEM:
        problems.append(f"{where}.overrideReason.reason.system: not the system of the card's override "
                        f"reasons ({OVERRIDE_REASON_SYSTEM})")
    if reason.code is None or (reason.code not in codes if codes is not None else not _RULE_CODE.match(reason.code)):
        listed = f" ({', '.join(sorted(codes))})" if codes else ""
        problems.append(f"{where}.overrideReason.reason.code: not one of the card's override reasons{listed}")
    return problems


def _short(value: str) -> str:
    """A client value quoted in an error, cut short (it is answered, never logged)."""
    return value if len(value) <= 40 else value[:37] + "..."
