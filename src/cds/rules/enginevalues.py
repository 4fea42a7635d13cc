"""Numbers as durable-rules can hold them: the one place that makes a projected value engine-safe.

durable-rules receives every message and ruleset as JSON text made by
``json.dumps`` and parses numbers with its own C parser, which fails (error
204) on a float written with an exponent but no decimal point (``5e-324``,
``1e-05``, ``1e+16``) and on ``Infinity`` / ``NaN`` (error 202). A posted model
probability of ``5e-324`` once turned into an HTTP 500. Semantics chosen here,
for every number that reaches the engine (projected facts, derived values,
thresholds):

* NaN and ±infinity are not values: the fact is **unknown** (left out of the
  message), so comparisons on it are unknown, exactly as for a missing fact.
* ``-0.0`` is ``0.0``.
* Magnitudes of at least `LIMIT` (10^15) are clamped to ``±LIMIT``; no
  clinical fact comes near, and the order against any threshold allowed by the
  loader (which must lie strictly inside ``±LIMIT``) is kept.
* Subnormal floats (closer to zero than 2.2e-308) are ``0.0``.
* A float whose shortest text is ``<digit>e<exp>`` is moved one unit in the
  last place away from zero, which gives it a decimal point. The map is
  monotone, so ``<``/``>`` against thresholds (passed through the same map)
  keep their order; at worst two floats one ulp apart compare equal.

The Python evaluation (explain, `RuleSet.evaluate_python`) sees the same
normalised values, so engine and Python always agree.
"""

from __future__ import annotations

import math
import sys

LIMIT = 10**15
_SMALLEST_NORMAL = sys.float_info.min


def _parseable(value: float) -> bool:
    text = repr(value)
    return "e" not in text or "." in text


def engine_float(value: float) -> float | None:
    """The engine-safe float for ``value`` (None for NaN and infinities: unknown)."""
    if not math.isfinite(value):
        return None
    if value >= LIMIT:
        return float(LIMIT)
    if value <= -LIMIT:
        return -float(LIMIT)
    if abs(value) < _SMALLEST_NORMAL:
        return 0.0
    towards = math.copysign(math.inf, value)
    for _ in range(8):
        if _parseable(value):
            return value
        value = math.nextafter(value, towards)
    return 0.0  # pragma: no cover - a normal float's neighbour always needs a decimal point


def engine_value(value: bool | int | float | str | None) -> bool | int | float | str | None:
    """``value`` as the engine may hold it; None means unknown (see the module docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return max(-LIMIT, min(LIMIT, value))
    if isinstance(value, float):
        return engine_float(value)
    return value


def threshold_problem(value: object) -> str | None:
    """Why a number cannot be a threshold or derived value (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if abs(value) >= LIMIT:
        return f"{value!r} is out of range (numbers must lie strictly between -1e15 and 1e15)"
    return None
