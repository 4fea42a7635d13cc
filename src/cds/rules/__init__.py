"""Rule files: schema, loader, compiler, durable-rules adapter, explain and hot reload.

Public names: `RuleSet` (load + evaluate + explain), `RuleSetHolder` /
`ReloadResult` (hot reload), `Finding`, `RuleOutcome`, `Explanation`,
`RuleSetError` / `RuleError` (load errors with file:line), `RuleWarning`
(warnings a set loads with, ``RuleSet.warnings``). Only
`cds.rules.engine` imports ``durable``. `cds.rules` imports `cds.cards`; `cds.cards`
never imports `cds.rules` at run time (fact paths live in `cds.factpaths`).
"""

from __future__ import annotations

from cds.rules.errors import RuleError, RuleSetError, RuleWarning
from cds.rules.explain import Explanation
from cds.rules.holder import ReloadResult, RuleSetHolder
from cds.rules.model import Finding
from cds.rules.ruleset import RuleOutcome, RuleSet

__all__ = [
    "Explanation",
    "Finding",
    "ReloadResult",
    "RuleError",
    "RuleOutcome",
    "RuleSet",
    "RuleSetError",
    "RuleSetHolder",
    "RuleWarning",
]
