"""Any float the snapshot can hold reaches durable-rules safely (no error 204/202, no HTTP 500).

Semantics (docs/rules-guide.md, "Numbers in the engine"): NaN/inf are unknown,
-0.0 is 0, subnormals are 0, magnitudes >= 1e15 are clamped, and the engine and
the Python evaluation agree on every value.
"""

from __future__ import annotations

import math
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.facts.snapshot import RiskPrediction, ScoreResult
from cds.rules import RuleSet, RuleSetError
from cds.rules.enginevalues import LIMIT, engine_value

RISK_RULE = """
id: risk-high
version: "1.0"
title: {nb: Høy risiko, en: High risk}
hooks: [encounter-discharge]
parameters:
  cut: {type: float, default: 0.3, description: probability cut-off}
when: {fact: readmission_risk.probability, op: ">=", value: $cut}
card:
  topic: readmission-risk
  indicator: info
  summary: {nb: "Risiko {{ readmission_risk.probability | pct }}", en: "Risk {{ readmission_risk.probability | pct }}"}
source: {paper: test}
"""

POINTS_RULE = """
id: points-positive
version: "1.0"
title: {nb: Poeng, en: Points}
hooks: [encounter-discharge]
when: {fact: scores.lace.points, op: ">", value: 0}
derive:
  lace_positive: {type: bool, value: true, description: LACE above zero}
source: {paper: test}
"""

POINTS_UNKNOWN_RULE = """
id: points-unknown
version: "1.0"
title: {nb: Ukjent, en: Unknown}
hooks: [encounter-discharge]
when: {fact: scores.lace.points, unknown: true}
derive:
  lace_unknown: {type: bool, value: true, description: LACE unknown}
source: {paper: test}
"""


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    directory = tmp_path_factory.mktemp("numbers")
    (directory / "codesystems").mkdir()
    shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", directory / "codesystems" / "card-topic.yaml")
    for name, text in {"a.yaml": RISK_RULE, "b.yaml": POINTS_RULE, "c.yaml": POINTS_UNKNOWN_RULE}.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return RuleSet.load(directory)


def _fired(ruleset: RuleSet, snap: object) -> tuple[set[str], set[str]]:
    engine = {f.rule_id for f in ruleset.evaluate("encounter-discharge", snap)}  # type: ignore[arg-type]
    python = {f.rule_id for f in ruleset.evaluate_python("encounter-discharge", snap).findings}  # type: ignore[arg-type]
    return engine, python


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(probability=st.floats(min_value=0.0, max_value=1.0, allow_subnormal=True))
def test_any_model_probability_is_matched_by_the_engine_as_in_python(ruleset: RuleSet, patient: Callable[..., object], probability: float) -> None:
    snap = patient(readmission_risk=RiskPrediction(probability=probability, model_version="t"))
    engine, python = _fired(ruleset, snap)
    assert engine == python
    assert ("risk-high" in engine) == (probability >= 0.3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True))
def test_any_score_float_reaches_the_engine_and_nan_or_inf_counts_as_unknown(ruleset: RuleSet, patient: Callable[..., object], points: float) -> None:
    snap = patient(scores={"lace": ScoreResult(name="lace", points=points)})
    engine, python = _fired(ruleset, snap)
    assert engine == python
    if not math.isfinite(points):
        assert engine == {"points-unknown"}
    else:
        positive = points >= 2.2250738585072014e-308  # subnormals count as 0
        assert ("points-positive" in engine) == positive


def test_the_tiny_probability_that_broke_the_service_gives_no_card_and_no_error(ruleset: RuleSet, patient: Callable[..., object]) -> None:
    snap = patient(readmission_risk=RiskPrediction(probability=5e-324, model_version="t"))
    assert "risk-high" not in {f.rule_id for f in ruleset.evaluate("encounter-discharge", snap)}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(-0.0, 0.0), (5e-324, 0.0), (1e300, float(LIMIT)), (-1e300, -float(LIMIT)), (10**20, LIMIT), (0.25, 0.25), (True, True), ("x", "x")],
)
def test_engine_values_are_normalised(value: object, expected: object) -> None:
    out = engine_value(value)  # type: ignore[arg-type]
    assert out == expected and type(out) is type(expected)
    if isinstance(out, float) and out == 0:
        assert math.copysign(1.0, out) == 1.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_unknown(value: float) -> None:
    assert engine_value(value) is None


def test_a_float_written_with_a_bare_exponent_gets_a_decimal_point_one_ulp_away(ruleset: RuleSet) -> None:
    out = engine_value(1e-05)
    assert isinstance(out, float) and "." in repr(out) and out == math.nextafter(1e-05, 1.0)


def test_an_out_of_range_threshold_is_a_load_error(make_rules: Callable[..., Path]) -> None:
    rule = RISK_RULE.replace("default: 0.3", "default: 1.0e+300")
    with pytest.raises(RuleSetError) as error:
        RuleSet.load(make_rules({"a.yaml": rule}))
    assert "out of range" in str(error.value)
