"""The durable-rules adapter: the only module that talks to the durable-rules engine.

durable-rules is a Rete engine written in C (the ``durable_rules_engine``
extension of the durable-rules package) with a thin Python host
(``durable.engine``) around it. The adapter drives the C engine directly,
through the calls the host itself makes: the host dispatches each rule action
with a `Closure` object, two clock reads, the whole state re-serialised and
re-asserted, and the matched message parsed, which cost several times the
matching itself (durable-rules 2.0.28). The rules, the agenda (salience) and
the chaining of derived facts all stay inside durable-rules.

The adapter owns every trap of the package (see docs/rules-guide.md, "Engine"):

* the engine's handles are process-global and not thread-safe: every call into
  it is serialised by one lock, and the durable host (whose dispatch/timer
  threads would race our calls) is never created;
* each compiled ruleset gets a fresh versioned name (``cds_<digest>_<hook>_<n>``)
  and its own engine handle; a reload registers new ones and never touches the
  old ones, so calls in flight finish on them;
* the engine receives its ruleset as JSON text, so the definitions we keep are
  never mutated by it;
* each evaluation uses its own state id, deleted in ``finally``;
* a rule whose condition holds through several branches of an ``$or`` fires
  once per branch; the adapter reports each rule once;
* an error while handling an action (a derived value that cannot be computed)
  abandons the action and raises `EngineError`;
* durable keeps every ruleset until it is deleted; a `CompiledRuleset` that is
  garbage-collected (its rule set was replaced by a reload and no call uses it
  any more) has its engine ruleset deleted at the next call, so reloads do not
  leak memory;
* "no rule matched" is an empty result; and since ``delete_state`` segfaults
  on a ruleset that has never run an action (verified with durable-rules
  2.0.28), every ruleset has a lowest-salience "done" rule that matches every
  top-level fact, so an action always runs;
* its JSON parser rejects some floats (``5e-324``, ``1e-05``, NaN, inf): every
  number is normalised by `cds.rules.enginevalues` before it is asserted, and
  facts are written with ``json.dumps``, whose float text that normalisation
  is made for.

Evaluation asserts the projected message as one *fact* (an event would be
consumed by the first rule that matches it; a fact is seen by every rule).
Derived facts chain through the engine by strata: every rule runs at the level
of the derived facts it uses; a lowest-salience "close" rule per level collects
the rules fired at that level, asks the caller for the derived values, and
asserts the next-level fact with them added. A level's fact holds only the
message fields its rules read (no other field can change a match), so the
engine does not parse, store and hand back fields no rule there tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _durable

from cds.rules.enginevalues import engine_value

STRATUM = "_stratum"
_RULE_SALIENCE = 1
_CLOSE_SALIENCE = 1000  # lower fires first in durable-rules
_HANDLED = 0  # result codes of durable's assert_fact (rules.h: RULES_OK, ERR_EVENT_NOT_HANDLED)
_NOT_HANDLED = 1


@dataclass(frozen=True)
class EngineRule:
    """One rule for the engine: a unique key, its level and its durable-rules condition."""

    key: str
    stratum: int
    condition: dict[str, Any]


CloseStratum = Callable[[int, list[str]], Mapping[str, Any]]

_lock = threading.RLock()
_handles: dict[str, int] = {}  # versioned ruleset name -> durable ruleset handle
_names = itertools.count(1)
_sids = itertools.count(1)
_retired: list[str] = []  # names of rulesets whose owner is gone, deleted at the next call


class EngineError(RuntimeError):
    """durable-rules could not complete an evaluation (an action failed, or the engine answered unexpectedly)."""


def _sweep() -> None:
    """Delete the durable rulesets of garbage-collected `CompiledRuleset`s (call under the lock).

    Deletion is deferred to here, outside any durable call, because the
    finalizer that retires a name may run at any moment (garbage collection).
    """
    while _retired:
        handle = _handles.pop(_retired.pop(), None)
        if handle is not None:
            _durable.delete_ruleset(handle)


def registered_names() -> list[str]:
    """Names of the rulesets currently registered with the engine (for tests and diagnostics)."""
    with _lock:
        return sorted(_handles)


def _safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values durable can parse (idempotent; the projection already normalised them)."""
    out = {}
    for key, value in values.items():
        value = engine_value(value)
        if value is not None:
            out[key] = value
    return out


@dataclass(frozen=True)
class _Action:
    """What the adapter does when durable starts the action of one of its rules.

    ``key`` is the rule key for a rule, None for the per-level "close" rules
    and the final "done" rule; ``level`` is the rule's stratum.
    """

    key: str | None
    level: int
    closes: bool = False


_LOGICAL = ("$and", "$or")
_TESTS = ("$ex", "$nex", "$neq", "$lt", "$lte", "$gt", "$gte")  # {"$op": {field: value}}


def _fields_read(condition: Mapping[str, Any]) -> set[str]:
    """The message fields a durable condition (as `cds.rules.conditions.to_durable` writes it) reads."""
    fields: set[str] = set()
    for name, value in condition.items():
        if name in _LOGICAL:
            for part in value:
                fields |= _fields_read(part)
        elif name in _TESTS:
            fields |= set(value)
        elif name.startswith("$"):
            raise ValueError(f"durable operator {name!r} is not supported by the adapter")
        else:
            fields.add(name)
    return fields


def _action_name(result: str) -> str:
    """The name of the rule whose action durable started, from its result text.

    durable writes a result as ``{"<rule name>":{"m":<fact>}}`` (``serializeResult``;
    our rules have no ``count``, which would make it a list). Our rule names
    contain no quotes, so the name is the text up to the second quote; reading
    it there spares parsing the whole fact once per action.
    """
    if not result.startswith('{"'):
        raise EngineError(f"unexpected result from durable-rules: {result[:40]!r}")
    return result[2 : result.index('"', 2)]


class CompiledRuleset:
    """A ruleset registered with durable-rules; `run` evaluates one message."""

    def __init__(self, name_hint: str, rules: list[EngineRule], close: CloseStratum) -> None:
        self.name = f"cds_{name_hint}_{next(_names)}"
        self.rule_keys = [r.key for r in rules]
        self.top = max((r.stratum for r in rules), default=0)
        self._close = close
        self.definition = self._definition(rules)
        self._actions = {f"r{index}": _Action(rule.key, rule.stratum) for index, rule in enumerate(rules)}
        self._actions.update({f"close{level}": _Action(None, level, closes=True) for level in range(self.top)})
        self._actions["done"] = _Action(None, self.top)
        fields: list[set[str]] = [set() for _ in range(self.top + 1)]
        for rule in rules:
            fields[rule.stratum] |= _fields_read(rule.condition)
        self._fields = [tuple(sorted(names)) for names in fields]  # level -> the message fields its rules read
        with _lock:
            _sweep()
            try:
                self._handle: int = _durable.create_ruleset(self.name, json.dumps(self.definition, ensure_ascii=False))
            except _durable.error as exc:  # a limit of the C engine (e.g. too many alternatives in one condition)
                raise EngineError(f"durable-rules refused the compiled rules: {exc}") from None
            _handles[self.name] = self._handle
        # the durable ruleset is deleted once this object is gone
        weakref.finalize(self, _retired.append, self.name)

    def _definition(self, rules: list[EngineRule]) -> dict[str, Any]:
        """The JSON ruleset given to durable (rule names map to `_Action`s), kept for inspection and tests."""
        definition: dict[str, Any] = {}
        for index, rule in enumerate(rules):
            definition[f"r{index}"] = {
                "all": [{"m": {"$and": [{STRATUM: rule.stratum}, rule.condition]}}],
                "pri": _RULE_SALIENCE,
            }
        for level in range(self.top):
            definition[f"close{level}"] = {"all": [{"m": {STRATUM: level}}], "pri": _CLOSE_SALIENCE}
        definition["done"] = {"all": [{"m": {STRATUM: self.top}}], "pri": _CLOSE_SALIENCE}
        return definition

    def _assert(self, fact: dict[str, Any]) -> int | None:
        """Assert one fact; its state's offset, or None when no rule matched it."""
        code, state = _durable.assert_fact(self._handle, json.dumps(fact, ensure_ascii=False))
        if code == _NOT_HANDLED:
            return None
        if code != _HANDLED:
            raise EngineError(f"durable-rules answered {code} to a fact in {self.name}")
        return int(state)

    def _fact(self, sid: str, level: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """The fact asserted for one level: only the values its rules read (no other value can change a match)."""
        fact = {key: values[key] for key in self._fields[level] if key in values}
        fact.update({"sid": sid, "id": f"level{level}", STRATUM: level})
        return fact

    def _dispatch(self, sid: str, values: dict[str, Any], state: int) -> list[str]:
        """Run durable's agenda for one state to the end: the keys of the rules fired, in firing order.

        durable hands out one action at a time (the highest-salience match);
        completing it yields the next, including matches of facts asserted
        while it ran. At each "close" action the derived values of the level
        are added to ``values`` and the next level's fact is asserted.
        """
        fired: dict[str, int] = {}  # rule key -> level; a dict keeps firing order and drops $or repeats
        started = _durable.start_action_for_state(self._handle, state)
        messages = started[1] if started else None
        try:
            while messages:
                action = self._actions[_action_name(messages)]
                if action.key is not None:
                    fired.setdefault(action.key, action.level)
                elif action.closes:
                    now_fired = [key for key, level in fired.items() if level == action.level]
                    values.update(_safe(self._close(action.level, now_fired)))
                    self._assert(self._fact(sid, action.level + 1, values))
                messages = _durable.complete_and_start_action(self._handle, state)
        except BaseException:
            _durable.abandon_action(self._handle, state)
            raise
        return list(fired)

    def run(self, message: Mapping[str, Any], *, engine_safe: bool = False) -> list[str]:
        """Keys of the rules that fired, in firing order (empty when none matched).

        ``engine_safe``: every value of ``message`` is already one
        `cds.rules.enginevalues.engine_value` returns (the projection's are), so
        it is not normalised again; the derived values are normalised either way.
        """
        values = dict(message) if engine_safe else _safe(message)
        with _lock:
            _sweep()
            sid = f"e{next(_sids)}"
            try:
                state = self._assert(self._fact(sid, 0, values))
                if state is None:
                    return []
                try:
                    return self._dispatch(sid, values, state)
                except EngineError:
                    raise
                except Exception as error:
                    raise EngineError(f"rule action failed in {self.name}: {error}") from error
            finally:
                try:
                    _durable.delete_state(self._handle, sid)
                except _durable.error:  # the state may not exist when nothing matched
                    pass
