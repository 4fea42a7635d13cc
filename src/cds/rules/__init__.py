"""Rule files: schema, loader, compiler, durable-rules adapter, explain and hot reload.

Public names: `RuleSet` (load + evaluate + explain), `RuleSetHolder` /
`ReloadResult` (hot reload), `Finding`, `Explanation`, `RuleSetError` /
`RuleError` (load errors with file:line). Only `cds.rules.engine` imports
``durable``. Names are resolved lazily so that `cds.cards` can use the fact
catalogue in `cds.rules.catalogue` without an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cds.rules.errors import RuleError, RuleSetError
    from cds.rules.explain import Explanation
    from cds.rules.holder import ReloadResult, RuleSetHolder
    from cds.rules.model import Finding
    from cds.rules.ruleset import RuleOutcome, RuleSet

_HOMES = {
    "RuleError": "cds.rules.errors",
    "RuleSetError": "cds.rules.errors",
    "Explanation": "cds.rules.explain",
    "ReloadResult": "cds.rules.holder",
    "RuleSetHolder": "cds.rules.holder",
    "Finding": "cds.rules.model",
    "RuleOutcome": "cds.rules.ruleset",
    "RuleSet": "cds.rules.ruleset",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cds.rules' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
