"""`cds rules`: check, test, explain and document rule files (for quality teams).

    cds rules check [DIR]                          validate and compile; file:line errors (exit 1) and warnings
    cds rules test [DIR]                           run every embedded test case
    cds rules explain [--hook HOOK --patient ID] FILE   why each rule fired or not (Bundle or request)
    cds rules docs [DIR]                           Markdown catalogue of all rules
    cds rules schema [OUT]                         export the JSON Schema for editors
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cds import bundled
from cds.cli import UserError
from cds.cli._time import NAIVE_IS_CLINICAL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cds.rules import RuleSet, RuleWarning

DEFAULT_DIR = bundled.RULES_DIR

DirArg = Annotated[Path, typer.Argument(help="rule directory (default: the bundled rules)")]
OverrideOpt = Annotated[list[Path] | None, typer.Option("--override", "-o", help="override layer file (repeatable)")]


def _load(directory: Path, overrides: list[Path] | None) -> RuleSet:
    from cds.rules import RuleSet, RuleSetError

    if not directory.is_dir():
        raise UserError(f"rule directory not found: {directory}")
    for path in overrides or []:
        if not path.is_file():
            raise UserError(f"override file not found: {path}")
    try:
        ruleset = RuleSet.load(directory, overrides or [])
    except RuleSetError as error:
        for item in error.errors:
            print(str(item), file=sys.stderr)
        _print_warnings(error.warnings)
        count = len(error.errors)
        print(f"rule set refused: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        raise typer.Exit(1) from None
    _print_warnings(ruleset.warnings)
    return ruleset


def _print_warnings(warnings: Sequence[RuleWarning]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def check(directory: DirArg = DEFAULT_DIR, override: OverrideOpt = None) -> None:
    """Validate and compile a rule set; print every error and warning as file:line; exit 1 on errors only."""
    ruleset = _load(directory, override)
    ids = {r.id for r in ruleset.rules}
    count = len(ruleset.warnings)
    warned = f", {count} warning{'s' if count != 1 else ''}" if count else ""
    print(f"ok: {len(ids)} rules, hooks {', '.join(ruleset.hooks)}, digest {ruleset.digest[:12]}{warned}")


def test(
    directory: DirArg = DEFAULT_DIR,
    override: OverrideOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list every case")] = False,
) -> None:
    """Run every test case embedded in the rule files (pytest-style report)."""
    from cds.rules.testing import run_embedded_tests

    ruleset = _load(directory, override)
    results = run_embedded_tests(ruleset)
    failed = [r for r in results if not r.ok]
    for result in results:
        if verbose:
            print(f"{result.nodeid} {'PASSED' if result.ok else 'FAILED'}")
    if not verbose:
        print("".join("." if r.ok else "F" for r in results))
    for result in failed:
        print(f"\n____ {result.rule_id} :: {result.name} ____\n{result.file}:{result.line}")
        for failure in result.failures:
            print(f"E   {failure}")
    untested = sorted({p.model.id for p in ruleset.loaded.parsed if not p.model.tests})
    if untested:
        print(f"\nrules without embedded tests: {', '.join(untested)}")
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or untested:
        raise typer.Exit(1)


def explain(
    file: Annotated[Path, typer.Argument(help="FHIR Bundle or CDS Hooks request JSON (as for cds evaluate)")],
    hook: Annotated[str | None, typer.Option("--hook", help="CDS hook, e.g. encounter-start (required for a Bundle)")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Patient id (required for a Bundle)")] = None,
    encounter: Annotated[str | None, typer.Option("--encounter", help="current Encounter id")] = None,
    user: Annotated[str, typer.Option("--user", help="context.userId")] = "Practitioner/cds-cli",
    now: Annotated[str | None, typer.Option("--now", help=f"evaluation time, {NAIVE_IS_CLINICAL} (default: now)")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="rule directory (default: the configured one)")] = None,
    override: OverrideOpt = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML or YAML configuration")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Explain, rule by rule and condition by condition, why cards did or did not fire.

    The call is answered exactly as `cds evaluate` and the service answer it
    (same prefetch, snapshot, scores, model and clinical zone); the explanation
    is a view over that evaluation, so "fired" is the rules behind the cards.
    """
    from cds.cli._call import CallOptions, run_call

    options = CallOptions(file, hook, patient, encounter, user, now, "nb", config, rules, tuple(override or ()))
    explanation = run_call(options).evaluation.explain()
    if as_json:
        print(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(explanation.to_text())


def docs(
    directory: DirArg = DEFAULT_DIR,
    output: Annotated[Path | None, typer.Option("--output", help="write to this file instead of stdout")] = None,
) -> None:
    """Print a Markdown catalogue of every rule: parameters, conditions, cards, sources, examples."""
    from cds.rules.catalogue_docs import catalogue

    text = catalogue(_load(directory, None))
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {output}")


def schema(output: Annotated[Path, typer.Argument(help="output directory")] = DEFAULT_DIR / "schema") -> None:
    """Export the JSON Schema of rule and override files (for editor validation)."""
    from cds.rules.schema import export_json_schema

    for path in export_json_schema(output):
        print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="rules", help="Check, test, explain and document rule files.", no_args_is_help=True)
    group.command("check")(check)
    group.command("test")(test)
    group.command("explain")(explain)
    group.command("docs")(docs)
    group.command("schema")(schema)
    app.add_typer(group, name="rules")
