"""Backtest: run a baseline and a candidate rule set over the same cohort and report what changes.

Both rule sets go through `cds.evaluation.Evaluator` in the same worker, on the
same parsed patient at the same moment (`cds.quality.batch`), so the only
difference between the two results is the rules. Per patient, the *cards*
compared are the set of rule ids that produced a card; the *pathway* is the
A/B/C value the pathway rules derive.

The report (`BacktestReport`) says, per rule and per card topic, how many
patients gain or lose a card; gives the pathway transition matrix; lists what
changed in the rule files (versions, parameters, rules added or removed) and
the warnings the candidate loads with (as `cds rules check` prints them); and
shows example patients (keyed pseudonyms, never identifiers) for each change
with the facts that made the rule fire and the parameters that differ.
Rendered as Markdown (`to_markdown`) and HTML (`to_html`), and as JSON for the
dashboard (`to_json`).
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["BacktestAggregator", "BacktestReport", "RuleChange", "rule_changes"]

PATHWAYS = ("A", "B", "C", "none")


@dataclass
class RuleChange:
    """How one rule differs between the two rule sets."""

    rule: str
    kind: str  # 'added' | 'removed' | 'changed'
    version: tuple[str | None, str | None]
    parameters: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind != "changed":
            return f"{self.rule}: {self.kind}"
        parts = [f"{name} {a!r} -> {b!r}" for name, (a, b) in sorted(self.parameters.items())]
        if self.version[0] != self.version[1]:
            parts.insert(0, f"version {self.version[0]} -> {self.version[1]}")
        return f"{self.rule}: " + ("; ".join(parts) if parts else "condition or text changed")


def _rule_index(ruleset: Any) -> dict[str, Any]:
    return {rule.key: rule for rule in ruleset.rules}


def rule_changes(baseline: Any, candidate: Any) -> list[RuleChange]:
    """What differs between two loaded `RuleSet`s, rule by rule (variants by key)."""
    a, b = _rule_index(baseline), _rule_index(candidate)
    changes: list[RuleChange] = []
    for key in sorted(set(a) | set(b)):
        ra, rb = a.get(key), b.get(key)
        if ra is None:
            changes.append(RuleChange(key, "added", (None, rb.version)))
        elif rb is None:
            changes.append(RuleChange(key, "removed", (ra.version, None)))
        else:
            params = {
                name: (ra.parameters.get(name), rb.parameters.get(name))
                for name in sorted(set(ra.parameters) | set(rb.parameters))
                if ra.parameters.get(name) != rb.parameters.get(name)
            }
            same_definition = ra.definition == rb.definition
            if params or ra.version != rb.version or not same_definition:
                changes.append(RuleChange(key, "changed", (ra.version, rb.version), params))
    return changes


@dataclass
class Example:
    patient: str
    change: str
    pathway: tuple[str, str]
    why: str


@dataclass
class BacktestReport:
    hook: str
    baseline: str
    candidate: str
    baseline_digest: str | None
    candidate_digest: str | None
    patients: int
    compared: int
    changed: int
    errors: int
    not_admitted: int
    rule_gains: dict[str, int]
    rule_losses: dict[str, int]
    topic_gains: dict[str, int]
    topic_losses: dict[str, int]
    transitions: dict[str, dict[str, int]]
    examples: dict[str, list[Example]]
    rule_changes: list[RuleChange]
    created: str
    candidate_warnings: list[str] = field(default_factory=list)  # RuleWarning texts, file:line: message (hint)

    # -- renderings ---------------------------------------------------------------------
    def to_json(self) -> bytes:
        data = {
            **{k: v for k, v in self.__dict__.items() if k not in ("examples", "rule_changes")},
            "examples": {k: [e.__dict__ for e in v] for k, v in self.examples.items()},
            "rule_changes": [
                {"rule": c.rule, "kind": c.kind, "version": c.version, "parameters": c.parameters, "text": c.describe()}
                for c in self.rule_changes
            ],
        }
        return orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str)

    def _rows(self, gains: Mapping[str, int], losses: Mapping[str, int]) -> list[tuple[str, int, int]]:
        keys = sorted(set(gains) | set(losses), key=lambda k: (-(gains.get(k, 0) + losses.get(k, 0)), k))
        return [(k, gains.get(k, 0), losses.get(k, 0)) for k in keys]

    def to_markdown(self) -> str:
        out = [
            f"# Backtest: {self.hook}",
            "",
            f"- Baseline: `{self.baseline}` (digest `{(self.baseline_digest or '?')[:12]}`)",
            f"- Candidate: `{self.candidate}` (digest `{(self.candidate_digest or '?')[:12]}`)",
            f"- Patients: {self.patients}; compared: {self.compared}; not admitted at the moment evaluated: "
            f"{self.not_admitted}; errors: {self.errors}",
            f"- **Patients whose cards or pathway differ: {self.changed}**",
            f"- Created: {self.created}",
            "",
            "## What changed in the rules",
            "",
        ]
        out += [f"- {c.describe()}" for c in self.rule_changes] or ["- nothing (same rules)"]
        if self.candidate_warnings:
            out += ["", "Warnings of the candidate rule set (as `cds rules check` prints them):", ""]
            out += [f"- warning: {w}" for w in self.candidate_warnings]
        for title, rows in (
            ("Cards per rule", self._rows(self.rule_gains, self.rule_losses)),
            ("Cards per topic", self._rows(self.topic_gains, self.topic_losses)),
        ):
            out += ["", f"## {title}", "", "| | patients gaining | patients losing |", "|---|---:|---:|"]
            out += [f"| {k} | {g} | {lo} |" for k, g, lo in rows] or ["| (no change) | 0 | 0 |"]
        out += ["", "## Pathway transitions (rows: baseline, columns: candidate)", ""]
        out.append("| baseline \\ candidate | " + " | ".join(PATHWAYS) + " |")
        out.append("|---|" + "---:|" * len(PATHWAYS))
        for a in PATHWAYS:
            out.append(f"| **{a}** | " + " | ".join(str(self.transitions.get(a, {}).get(b, 0)) for b in PATHWAYS) + " |")
        out += ["", "## Example patients (keyed pseudonyms)", ""]
        if not self.examples:
            out.append("No patient changed.")
        for change, examples in sorted(self.examples.items()):
            out += [f"### {change}", ""]
            out += [f"- `{e.patient}` (pathway {e.pathway[0]} -> {e.pathway[1]}): {e.why}" for e in examples]
            out.append("")
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        from jinja2 import Environment, PackageLoader, select_autoescape

        env = Environment(loader=PackageLoader("cds.quality", "templates"), autoescape=select_autoescape(["html"]))
        template = env.get_template("backtest.html")
        return template.render(
            report=self,
            rule_rows=self._rows(self.rule_gains, self.rule_losses),
            topic_rows=self._rows(self.topic_gains, self.topic_losses),
            pathways=PATHWAYS,
            escape=html.escape,
        )


def _short(value: Any) -> str:
    if isinstance(value, dict):
        if "score" in value:
            return str(value["score"])
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in list(value.items())[:4]) + "}"
    if isinstance(value, (list, tuple)):
        return f"[{len(value)} items]" if len(value) > 4 else "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


class BacktestAggregator:
    """Consumes the batch's two-result lines one at a time (streaming) and builds the report."""

    def __init__(
        self, changes: list[RuleChange], *, examples_per_change: int = 5, candidate_warnings: Sequence[str] = ()
    ) -> None:
        self.changes = {c.rule.split("@")[0]: c for c in changes}
        self.rule_changes = changes
        self.candidate_warnings = list(candidate_warnings)
        self.examples_per_change = examples_per_change
        self.patients = self.compared = self.changed = self.errors = self.not_admitted = 0
        self.rule_gains: Counter[str] = Counter()
        self.rule_losses: Counter[str] = Counter()
        self.topic_gains: Counter[str] = Counter()
        self.topic_losses: Counter[str] = Counter()
        self.transitions: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[str, list[Example]] = defaultdict(list)
        self.digests: list[str | None] = [None, None]

    def _why(self, rule: str, side: Mapping[str, Any], gained: bool) -> str:
        parts: list[str] = []
        change = self.changes.get(rule)
        if change is not None:
            parts.append("rule " + change.describe().split(": ", 1)[-1])
        matched = (side.get("why") or {}).get(rule, {}).get("matched") or {}
        if matched:
            facts = ", ".join(f"{k} = {_short(v)}" for k, v in list(matched.items())[:6])
            parts.append(f"{'candidate' if gained else 'baseline'} matched {facts}")
        return "; ".join(parts) or "facts unchanged; see the rule's condition"

    def _example(self, key: str, example: Example) -> None:
        bucket = self.examples[key]
        if len(bucket) < self.examples_per_change:
            bucket.append(example)

    def add(self, line: Mapping[str, Any]) -> bool:
        """Count one patient; True when the patient's cards or pathway differ."""
        self.patients += 1
        results = line.get("results") or []
        if len(results) != 2 or any(r.get("status") == "error" for r in results):
            self.errors += 1
            return False
        a, b = results
        if a.get("status") == "not-admitted" and b.get("status") == "not-admitted":
            self.not_admitted += 1
            return False
        self.compared += 1
        self.digests = [a.get("digest") or self.digests[0], b.get("digest") or self.digests[1]]
        cards_a = {c["rule"]: c for c in a.get("cards", [])}
        cards_b = {c["rule"]: c for c in b.get("cards", [])}
        pa, pb = a.get("pathway") or "none", b.get("pathway") or "none"
        self.transitions[pa][pb] += 1
        gained = sorted(set(cards_b) - set(cards_a))
        lost = sorted(set(cards_a) - set(cards_b))
        patient = str(line.get("patient", "?"))[:14]
        for rule in gained:
            self.rule_gains[rule] += 1
            self._example(f"gains {rule}", Example(patient, f"gains {rule}", (pa, pb), self._why(rule, b, True)))
        for rule in lost:
            self.rule_losses[rule] += 1
            self._example(f"loses {rule}", Example(patient, f"loses {rule}", (pa, pb), self._why(rule, a, False)))
        topics_a = {c["topic"] for c in cards_a.values()}
        topics_b = {c["topic"] for c in cards_b.values()}
        for topic in topics_b - topics_a:
            self.topic_gains[topic] += 1
        for topic in topics_a - topics_b:
            self.topic_losses[topic] += 1
        if pa != pb:
            fired = next((r for r in b.get("findings", []) if r.startswith("pathway")), None)
            why = self._why(fired, b, True) if fired else "no pathway rule fired in the candidate"
            self._example(f"pathway {pa} -> {pb}", Example(patient, f"pathway {pa} -> {pb}", (pa, pb), why))
        differs = bool(gained or lost or pa != pb)
        self.changed += differs
        return differs

    def report(self, *, hook: str, baseline: Path, candidate: Path) -> BacktestReport:
        return BacktestReport(
            hook=hook,
            baseline=str(baseline),
            candidate=str(candidate),
            baseline_digest=self.digests[0],
            candidate_digest=self.digests[1],
            patients=self.patients,
            compared=self.compared,
            changed=self.changed,
            errors=self.errors,
            not_admitted=self.not_admitted,
            rule_gains=dict(self.rule_gains),
            rule_losses=dict(self.rule_losses),
            topic_gains=dict(self.topic_gains),
            topic_losses=dict(self.topic_losses),
            transitions={a: dict(c) for a, c in self.transitions.items()},
            examples=dict(self.examples),
            rule_changes=self.rule_changes,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            candidate_warnings=self.candidate_warnings,
        )


def run_backtest(
    directory: Path,
    *,
    baseline: Path,
    candidate: Path,
    hook: str,
    at: datetime | None,
    pseudonym_key: bytes,
    baseline_overrides: tuple[Path, ...] = (),
    candidate_overrides: tuple[Path, ...] = (),
    model_dir: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    examples_per_change: int = 5,
) -> BacktestReport:
    """Evaluate every patient with both rule sets (one pass, streaming) and build the report."""
    import io

    from cds.quality.batch import BatchOptions, EvaluatorSpec, run_batch
    from cds.rules import RuleSet

    candidate_rules = RuleSet.load(candidate, list(candidate_overrides))
    changes = rule_changes(RuleSet.load(baseline, list(baseline_overrides)), candidate_rules)
    aggregator = BacktestAggregator(
        changes, examples_per_change=examples_per_change, candidate_warnings=[str(w) for w in candidate_rules.warnings]
    )
    options = BatchOptions(
        hook=hook,
        at=at,
        evaluators=(
            EvaluatorSpec(baseline, baseline_overrides, model_dir, label="baseline"),
            EvaluatorSpec(candidate, candidate_overrides, model_dir, label="candidate"),
        ),
        pseudonym_key=pseudonym_key,
        explain=True,
    )

    class _Discard(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            return len(b)

    run_batch(
        directory,
        options,
        _Discard(),  # type: ignore[arg-type]
        workers=workers,
        progress=progress,
        on_line=lambda raw: aggregator.add(orjson.loads(raw)),
    )
    return aggregator.report(hook=hook, baseline=baseline, candidate=candidate)
