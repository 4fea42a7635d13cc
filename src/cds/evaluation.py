"""The pure pipeline: FHIR resources -> snapshot -> scores -> rules -> cards.

Every caller - the HTTP service, `cds evaluate`, the batch and backtest
runners, the tests - goes through `Evaluator.evaluate`, so a card means the
same thing wherever it was produced. Nothing here does I/O: the resources come
in already fetched, the clock comes in as `EvaluationCall.now`, and the rule
set, model and pseudonym key are loaded once when the `Evaluator` is built.

>>> evaluator = Evaluator.from_paths(rules_dir=Path("rules"), model_dir=None, pseudonym_key=b"0" * 32)  # doctest: +SKIP
>>> evaluation = evaluator.evaluate(EvaluationCall(...))  # doctest: +SKIP
>>> [card["summary"] for card in evaluation.cards]  # CDS Hooks JSON  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from cds.cards import WireCard, render_cards
from cds.clinicaltime import DEFAULT_ZONE
from cds.facts import build_snapshot
from cds.facts.snapshot import PatientSnapshot
from cds.fhir.identity import NATIONAL_SYSTEMS
from cds.fhir.resources import ResourceIssue, ResourceSet
from cds.model import ReadmissionModel
from cds.pseudonym import Pseudonymizer
from cds.rules import Finding, RuleSet, RuleSetHolder
from cds.rules.explain import Explanation, explain_outcome
from cds.rules.ruleset import RuleOutcome
from cds.scores import score_all

LANGUAGES = ("nb", "en")


@dataclass(frozen=True)
class EvaluationCall:
    """One request for decision support: which hook, which patient, what data, when."""

    service_id: str
    hook: str
    patient_id: str
    encounter_id: str | None
    user_id: str | None
    now: datetime
    resources: ResourceSet
    language: str = "nb"

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("EvaluationCall.now must be timezone-aware")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {self.language!r}")


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation produced, and what it was based on."""

    cards: list[WireCard]  # CDS Hooks JSON, as served
    findings: list[Finding]
    snapshot: PatientSnapshot
    ruleset_digest: str
    patient_key: str
    issues: list[str] = field(default_factory=list)
    hook: str = ""
    #: what the rule engine returned for ``snapshot`` (fired, lost, derived, values), and the rule set it ran
    outcome: RuleOutcome | None = field(default=None, repr=False, compare=False)
    ruleset: RuleSet | None = field(default=None, repr=False, compare=False)

    def explain(self) -> Explanation:
        """Why each rule fired or not, for exactly this evaluation (``cds rules explain`` prints it).

        A view over this result, not a second run: the same snapshot (same
        searched types, scores and model prediction), the same engine outcome,
        and "fired" means "produced one of ``findings``", so explain reports
        exactly the rules behind the served cards.
        """
        if self.outcome is None or self.ruleset is None:
            raise ValueError("this evaluation carries no rule outcome to explain")
        return explain_outcome(self.ruleset, self.hook, self.snapshot, self.outcome, self.findings)


class Evaluator:
    """Evaluates hook calls against the current rule set and the loaded model.

    The rule set is taken from a `RuleSetHolder` once per call, so a hot
    reload never changes the rules under a call in flight. ``clinical_zone``
    is the calendar of ages, day counts and card dates (`cds.clinicaltime`;
    the ``clinical_timezone`` setting): a call's ``now`` may come in any zone.
    """

    def __init__(
        self,
        rules: RuleSetHolder,
        *,
        pseudonymizer: Pseudonymizer,
        model: ReadmissionModel | None = None,
        clinical_zone: tzinfo = DEFAULT_ZONE,
        trusted_identifier_systems: Collection[str] = (),
    ) -> None:
        self._rules = rules
        #: identifier systems a patient reference may use besides the national ones (`cds.fhir.identity`)
        self._trusted = frozenset(trusted_identifier_systems) | NATIONAL_SYSTEMS
        self._pseudonymizer = pseudonymizer
        self._model = model
        self._zone = clinical_zone

    @classmethod
    def from_paths(
        cls,
        *,
        rules_dir: Path,
        model_dir: Path | None,
        pseudonym_key: bytes,
        overrides: Sequence[Path] = (),
        clinical_zone: tzinfo = DEFAULT_ZONE,
        trusted_identifier_systems: Collection[str] = (),
    ) -> Evaluator:
        """Load the rule set and the model once; raises the loaders' errors unchanged."""
        holder = RuleSetHolder(rules_dir, overrides=list(overrides))
        model = ReadmissionModel.load(model_dir) if model_dir is not None else None
        return cls(
            holder,
            pseudonymizer=Pseudonymizer(pseudonym_key),
            model=model,
            clinical_zone=clinical_zone,
            trusted_identifier_systems=trusted_identifier_systems,
        )

    @property
    def rules(self) -> RuleSetHolder:
        return self._rules

    @property
    def model(self) -> ReadmissionModel | None:
        return self._model

    @property
    def clinical_zone(self) -> tzinfo:
        return self._zone

    def snapshot(
        self, call: EvaluationCall, ruleset: RuleSet | None = None, *, issues: list[ResourceIssue] | None = None
    ) -> PatientSnapshot:
        """The scored fact snapshot for `call` (what the rules see).

        ``issues`` receives the data problems found while building it (a CFS
        out of range, a lab unit that cannot be converted, ...).
        """
        ruleset = ruleset or self._rules.current()
        snapshot = build_snapshot(
            call.resources,
            patient_id=call.patient_id,
            encounter_id=call.encounter_id,
            now=call.now,
            terminology=ruleset.terminology,
            patient_key=self._pseudonymizer.pseudonym(call.patient_id),
            issues=issues,
            clinical_zone=self._zone,
            trusted_systems=self._trusted,
        )
        scores = score_all(snapshot)
        # A snapshot without every model feature gets no prediction (the model is
        # not validated on imputed values); the rules see readmission_risk unknown.
        risk = self._model.try_predict(snapshot) if self._model is not None else None
        return snapshot.model_copy(update={"scores": scores, "readmission_risk": risk})

    def evaluate(self, call: EvaluationCall) -> Evaluation:
        ruleset = self._rules.current()
        issues: list[ResourceIssue] = list(call.resources.issues)
        snapshot = self.snapshot(call, ruleset, issues=issues)
        outcome = ruleset.run(call.hook, snapshot)
        findings = outcome.findings
        cards = render_cards(findings, ruleset, snapshot, language=call.language, patient_id=call.patient_id)
        return Evaluation(
            cards=cards,
            findings=findings,
            snapshot=snapshot,
            ruleset_digest=ruleset.digest,
            patient_key=snapshot.patient_key,
            issues=[str(issue) for issue in issues],
            hook=call.hook,
            outcome=outcome,
            ruleset=ruleset,
        )
