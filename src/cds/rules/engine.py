"""The durable-rules adapter: the only module that imports ``durable``.

It owns every trap of the package (see docs/rules-guide.md, "Engine"):

* one process-global host, created lazily, with its background timer threads
  disabled (we never use timers; the threads would race our calls), and every
  call into it serialised by one lock;
* ruleset names can never be registered twice, so each compiled ruleset gets a
  fresh versioned name (``cds_<digest>_<hook>_<n>``); a reload registers new
  names and never touches the old ones, so calls in flight finish on them;
* `durable` mutates the definitions it is given, so it gets a deep copy;
* each evaluation uses its own state id, deleted in ``finally``;
* a rule whose condition holds through several branches of an ``$or`` fires
  once per branch; the adapter reports each rule once;
* exceptions raised inside an action are swallowed by durable (noted in the
  state only); the adapter keeps them and raises `EngineError` after the call;
* durable keeps every registered ruleset for ever; a `CompiledRuleset` that is
  garbage-collected (its rule set was replaced by a reload and no call uses it
  any more) has its durable ruleset deleted at the next call, so reloads do not
  leak memory;
* "no rule matched" (`MessageNotHandledException`) is an empty result; and
  since ``delete_state`` segfaults on a ruleset that has never run an action
  (verified with durable-rules 2.0.28), every ruleset has a lowest-salience
  "done" rule that matches every top-level fact, so an action always runs.

* its JSON parser rejects some floats (``5e-324``, ``1e-05``, NaN, inf): every
  number is normalised by `cds.rules.enginevalues` before it is asserted.

Evaluation asserts the projected message as one *fact* (an event would be
consumed by the first rule that matches it; a fact is seen by every rule).
Derived facts chain through the engine by strata: every rule runs at the level
of the derived facts it uses; a lowest-salience "close" rule per level collects
the rules fired at that level, asks the caller for the derived values, and
asserts the next-level fact with them added.
"""

from __future__ import annotations

import copy
import itertools
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _durable_c
from durable import engine as _durable

from cds.rules.enginevalues import engine_value

STRATUM = "_stratum"
_RULE_SALIENCE = 1
_CLOSE_SALIENCE = 1000  # lower fires first in durable-rules


class _QuietHost(_durable.Host):
    """A durable Host without its dispatch/timer threads (we call it synchronously, under a lock)."""

    def _run(self) -> None:
        return None


@dataclass(frozen=True)
class EngineRule:
    """One rule for the engine: a unique key, its level and its durable-rules condition."""

    key: str
    stratum: int
    condition: dict[str, Any]


CloseStratum = Callable[[int, list[str]], Mapping[str, Any]]

_lock = threading.RLock()
_host: _QuietHost | None = None
_names = itertools.count(1)
_sids = itertools.count(1)
_runs: dict[str, list[tuple[int, str]]] = {}
_errors: dict[str, BaseException] = {}
_retired: list[str] = []  # names of rulesets whose owner is gone, deleted at the next call


class EngineError(RuntimeError):
    """An action failed inside durable-rules (which would otherwise only note it in the state)."""


def _get_host() -> _QuietHost:
    global _host
    if _host is None:
        _host = _QuietHost()
    return _host


def _sweep(host: _QuietHost) -> None:
    """Delete the durable rulesets of garbage-collected `CompiledRuleset`s (call under the lock).

    Deletion is deferred to here, outside any durable call, because the
    finalizer that retires a name may run at any moment (garbage collection).
    """
    while _retired:
        name = _retired.pop()
        ruleset = host._ruleset_directory.pop(name, None)
        if ruleset is not None:
            host._ruleset_list.remove(ruleset)
            _durable_c.delete_ruleset(ruleset._handle)


def registered_names() -> list[str]:
    """Names of the rulesets currently registered with the host (for tests and diagnostics)."""
    with _lock:
        return sorted(_get_host()._ruleset_directory)


def _safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values durable can parse (idempotent; the projection already normalised them)."""
    out = {}
    for key, value in values.items():
        value = engine_value(value)
        if value is not None:
            out[key] = value
    return out


def _done(c: Any) -> None:
    """The always-matching last action (see the module docstring)."""


class CompiledRuleset:
    """A ruleset registered with durable-rules; `run` evaluates one message."""

    def __init__(self, name_hint: str, rules: list[EngineRule], close: CloseStratum) -> None:
        self.name = f"cds_{name_hint}_{next(_names)}"
        self.rule_keys = [r.key for r in rules]
        self.top = max((r.stratum for r in rules), default=0)
        self._close = close
        self.definition = self._definition(rules)
        with _lock:
            host = _get_host()
            _sweep(host)
            host.register_rulesets({self.name: copy.deepcopy(self._with_actions(rules))})
        # the durable ruleset is deleted once this object is gone (its actions hold no reference to it)
        weakref.finalize(self, _retired.append, self.name)

    def _definition(self, rules: list[EngineRule]) -> dict[str, Any]:
        """The JSON ruleset (without the Python actions), kept for inspection and tests."""
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

    def _with_actions(self, rules: list[EngineRule]) -> dict[str, Any]:
        definition = copy.deepcopy(self.definition)
        for index, rule in enumerate(rules):
            definition[f"r{index}"]["run"] = self._fire(rule.stratum, rule.key)
        for level in range(self.top):
            definition[f"close{level}"]["run"] = self._close_level(level)
        definition["done"]["run"] = _done
        return definition

    @staticmethod
    def _fire(stratum: int, key: str) -> Callable[[Any], None]:
        def action(c: Any) -> None:
            run = _runs[c.s.sid]
            if (stratum, key) not in run:  # durable fires once per true branch of an $or
                run.append((stratum, key))

        return action

    def _close_level(self, level: int) -> Callable[[Any], None]:
        owner = weakref.ref(self)  # a strong reference would keep every reloaded rule set alive

        def action(c: Any) -> None:
            sid = c.s.sid
            fired = [key for stratum, key in _runs[sid] if stratum == level]
            try:
                me = owner()
                if me is None:
                    raise EngineError("ruleset evaluated after it was released")
                added = _safe(me._close(level, fired))
            except Exception as error:  # durable swallows exceptions of actions: keep it for `run`
                _errors[sid] = error
                return
            message = {k: v for k, v in c.m._d.items() if k not in ("sid", "id")}
            message.update(added)
            message[STRATUM] = level + 1
            message["id"] = f"level{level + 1}"
            c.assert_fact(message)

        return action

    def run(self, message: Mapping[str, Any]) -> list[str]:
        """Keys of the rules that fired, in firing order (empty when none matched)."""
        with _lock:
            sid = f"e{next(_sids)}"
            fact = {**_safe(message), "sid": sid, "id": "level0", STRATUM: 0}
            _runs[sid] = []
            host = _get_host()
            _sweep(host)
            try:
                try:
                    host.assert_fact(self.name, fact)
                except _durable.MessageNotHandledException:
                    pass
                if sid in _errors:
                    raise EngineError(f"rule action failed in {self.name}: {_errors[sid]}") from _errors[sid]
                return [key for _, key in _runs[sid]]
            finally:
                _runs.pop(sid, None)
                _errors.pop(sid, None)
                try:
                    host.delete_state(self.name, sid)
                except Exception:  # noqa: BLE001 - state may not exist when nothing matched
                    pass
