"""Hot reload: an atomic swap; a broken rule set is refused and the old one keeps serving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cds.cards import render_cards
from cds.facts.snapshot import PatientSnapshot
from cds.rules import RuleSetHolder


def test_reload_swaps_in_a_changed_rule_set(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    directory = make_rules({"s.yaml": screening(70)})
    holder = RuleSetHolder(directory)
    old_digest = holder.current().digest
    make_rules({"s.yaml": screening(80)})
    result = holder.reload()
    assert result.ok and result.changed and result.previous_digest == old_digest
    assert holder.current().digest == result.digest != old_digest
    assert holder.current().evaluate("encounter-start", patient(age=75)) == []


def test_broken_rule_set_is_refused_and_the_old_one_keeps_serving(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    directory = make_rules({"s.yaml": screening(70)})
    holder = RuleSetHolder(directory)
    serving = holder.current()
    make_rules({"s.yaml": screening(70).replace("fact: age", "fact: agee")})
    result = holder.reload()
    assert not result.ok and not result.changed
    assert result.errors and result.errors[0].startswith("rules/s.yaml:9: unknown fact")
    assert holder.current() is serving
    assert len(holder.current().evaluate("encounter-start", patient(age=75))) == 1


def test_a_call_in_flight_finishes_on_the_set_it_started_with(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    directory = make_rules({"s.yaml": screening(70)})
    holder = RuleSetHolder(directory)
    in_flight = holder.current()
    make_rules({"s.yaml": screening(80)})
    holder.reload()
    kari = patient(age=75)
    findings = in_flight.evaluate("encounter-start", kari)
    (card,) = render_cards(findings, in_flight, kari)
    assert card["extension"]["no.cds-frailty.provenance"]["rulesetDigest"] == in_flight.digest != holder.current().digest


def test_reload_without_changes_reports_no_change(make_rules: Callable[..., Path], screening: Callable[[int], str]) -> None:
    holder = RuleSetHolder(make_rules({"s.yaml": screening(70)}))
    result = holder.reload()
    assert result.ok and not result.changed and result.digest == holder.current().digest


def test_calls_on_many_threads_during_reloads_all_finish_on_a_whole_rule_set(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    import threading

    directory = make_rules({"s.yaml": screening(70)})
    holder = RuleSetHolder(directory)
    kari = patient(age=75)
    seen: list[tuple[str, int]] = []
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            for _ in range(40):
                ruleset = holder.current()
                seen.append((ruleset.digest, len(ruleset.evaluate("encounter-start", kari))))
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            failures.append(error)

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for thread in threads:
        thread.start()
    digests = {holder.current().digest: 1}
    for min_age in (80, 70, 80):
        make_rules({"s.yaml": screening(min_age)})
        result = holder.reload()
        digests[result.digest] = 0 if min_age == 80 else 1
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(digests[digest] == count for digest, count in seen)
