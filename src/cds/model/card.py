"""The model card (``MODEL_CARD.md``), written from the artefact's metadata by `cds model train`.

Every figure in the card comes from ``metadata.json`` of the same training run,
so the card cannot drift from the committed model.
"""

from __future__ import annotations

from typing import Any

from cds.model.baselines import BASELINES, baseline
from cds.model.evaluation import SCORERS
from cds.model.plots import CALIBRATION_PNG, ROC_PNG

__all__ = ["render_card"]

_LABELS = {"model": "Model (calibrated)", "lace_style": "LACE-style baseline", "hospital_style": "HOSPITAL-style baseline"}
_GROUPS = {"all": "All held-out rows", "age_70_plus": "Age 70+ (held-out rows)"}
_GROUPS_CV = {"all": "All rows (out of fold)", "age_70_plus": "Age 70+ (out of fold)"}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def metrics_table(metrics: dict[str, dict[str, dict[str, Any]]], groups: dict[str, str] | None = None) -> str:
    lines = [
        "| Rows | Scorer | n | events | AUROC [95% CI] | AUPRC | Brier | model - scorer AUROC [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group, label in (groups or _GROUPS).items():
        for scorer in SCORERS:
            m = metrics[group][scorer]
            auroc = (
                "-"
                if m["auroc"] is None
                else f"{m['auroc']:.3f} [{m['auroc_low']:.3f}-{m['auroc_high']:.3f}]"
            )
            diff = m.get("model_auroc_difference")
            diff_text = "-" if not diff else f"{diff['estimate']:+.3f} [{diff['low']:+.3f} to {diff['high']:+.3f}]"
            lines.append(
                f"| {label} | {_LABELS[scorer]} | {m['n']:,} | {m['events']:,} | {auroc} | "
                f"{_fmt(m['auprc'])} | {_fmt(m['brier'], 4)} | {diff_text} |"
            )
    return "\n".join(lines)


def _baseline_section() -> str:
    out = []
    for name in BASELINES:
        b = baseline(name)
        used = ", ".join(f"{item} ({spec['column']})" for item, spec in b.items.items())
        omitted = "; ".join(f"{item}: {why}" for item, why in b.omitted.items())
        out.append(f"- **{_LABELS[name]}** - {b.source}. Items scored: {used}. Left out: {omitted}.")
    return "\n".join(out)


def _difference_sentence(held: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Where the paired 95% CI of (model - baseline) AUROC includes 0, the advantage is not established."""
    unclear = []
    for group, label in _GROUPS.items():
        for name in BASELINES:
            diff = held[group][name].get("model_auroc_difference")
            if diff is not None and diff["low"] <= 0.0:
                unclear.append(f"{_LABELS[name]}, {label.lower()}")
    if not unclear:
        return (
            "The model's AUROC is above both baselines overall and for age 70+, and the paired "
            "95% CI of each difference (DeLong) excludes 0."
        )
    return (
        "The paired 95% CI of the AUROC difference (model - baseline, DeLong) includes 0 for: "
        + "; ".join(unclear)
        + " - there the model's advantage over that baseline is not established."
    )


def _cv_section(metadata: dict[str, Any]) -> str:
    cv = metadata.get("cross_validation")
    if not cv:
        return "No cross-validation was run for this artefact (`cds model train --cv-folds 0`)."
    folds = ", ".join(f"{a:.3f}" for a in cv["fold_auroc"])
    cal = cv["calibration"]
    cal_lines = "\n".join(
        f"| {_GROUPS_CV[group]} | {c['expected_over_observed']:.2f} | {_fmt(c['slope'], 2)} | "
        f"{c['mean_predicted']:.3f} | {c['observed_rate']:.3f} | {c['share_predicted_20_percent_or_more']:.1%} |"
        for group, c in cal.items()
    )
    return f"""The whole recipe (candidate selection, calibration) was run {cv['folds']} times, each time on
{cv['folds'] - 1} of {cv['folds']} stratified folds (seed {cv['seed']}), predicting the fold it never saw; the
out-of-fold predictions of all rows are scored together. AUROC per fold: {folds}.
Chosen candidate per fold: {', '.join(cv['chosen_per_fold'])}.

{metrics_table(cv['metrics'], _GROUPS_CV)}

Calibration of the out-of-fold predictions (E/O: expected over observed events;
slope: logistic calibration slope, 1 is ideal):

| Rows | E/O | slope | mean predicted | observed rate | predicted >= 20 % |
|---|---|---|---|---|---|
{cal_lines}"""


def _headline(metadata: dict[str, Any]) -> str:
    cv = metadata.get("cross_validation")
    if not cv:
        held = metadata["held_out_metrics"]["all"]["model"]
        return f"AUROC {_fmt(held['auroc'])} on one held-out split (no cross-validation recorded)"
    m = cv["metrics"]["all"]["model"]
    old = cv["metrics"]["age_70_plus"]["model"]
    return (
        f"{cv['folds']}-fold cross-validated AUROC {m['auroc']:.3f} [95% CI {m['auroc_low']:.3f}-{m['auroc_high']:.3f}], "
        f"age 70+ {old['auroc']:.3f} [{old['auroc_low']:.3f}-{old['auroc_high']:.3f}]"
    )


def render_card(metadata: dict[str, Any]) -> str:
    """The model card as Markdown."""
    split = metadata["split"]
    rows = split["rows"]
    data = metadata["training_data"]
    cand = metadata["candidates"]
    cand_lines = ", ".join(f"{name} {auc:.4f}" for name, auc in sorted(cand["validation_auroc"].items()))
    held = metadata["held_out_metrics"]
    versions = ", ".join(f"{k} {v}" for k, v in metadata["versions"].items())
    validation = metadata.get("validation", {})
    validated = (
        f"**Locally validated and accepted**: {validation.get('summary', '')}"
        if validation.get("accepted")
        else "**Not validated for Norwegian patients.** The `validated` flag of this artefact is off, so the "
        "readmission cards do not show the model at all; a site sets it only after `cds model validate "
        "--accept` on its own patients."
    )
    return f"""# Model card: 30-day readmission model (`{metadata['version']}`)

Generated by `cds model train` from `metadata.json` of the same run; do not edit
by hand (rerun `cds model train`, which rebuilds this card, the figures and the
artefact). Artefact: `model.skops` (skops, SHA-256
`{metadata['artefact']['model_sha256']}`), verified before every load, with
`metadata.json` and `training_rows.npy` covered by `SHA256SUMS`.

**Discrimination: {_headline(metadata)}.** Modest: it ranks patients better than
the LACE-style and HOSPITAL-style proxies on the same rows, but a clinician
should read it as a weak signal, not a verdict.

## Intended use

A supporting estimate of the probability of any readmission within 30 days of
an inpatient stay, next to the published LACE and HOSPITAL scores, which lead
on the readmission cards. Suitable for: discharge planning support *after* a
site has validated it on its own patients (`cds model validate`), research and
benchmarking of the pipeline.

{validated}

**Not for**: deciding who gets follow-up or municipal services on its own;
patients outside the training data's range (the out-of-distribution guard gives
them no probability); children; predicting death; "potentially avoidable"
readmission; any use where the published scores are available and the model
has not been validated locally.

## Published anchors

- LACE (van Walraven et al., CMAJ 2010): C statistic **0.684** at derivation;
  **0.53-0.60** in elderly cohorts (external validations).
- HOSPITAL (Donzé et al., JAMA Intern Med 2013): C statistic **0.72** in the
  international validation.
- The baselines here are **LACE-style and HOSPITAL-style proxies**: they lack
  items the columns do not hold (Charlson comorbidity; haemoglobin, sodium,
  oncology), so their AUROC here is not the published scores' AUROC.

## Limits

- Trained on an **American, diabetic population, 1999-2008** (130 US hospitals):
  not validated for **Norwegian frail elderly** or any Norwegian population;
  case mix, coding, care pathways and readmission patterns differ.
- For **age 70+** (the patients this engine is for) the cross-validated AUROC is
  lower than overall; see the tables below, stated as measured.
- The outcome is any readmission within 30 days: not "potentially avoidable"
  readmission (HOSPITAL) and not "death or unplanned readmission" (LACE).
- Features are coarse (10-year age bands; three diagnosis codes per stay in the
  source, of which only the primary one is used, mapped from ICD-9-CM to ICD-10
  chapters). The snapshot-side definitions (what counts as a diagnosis, a
  procedure, a medication in a Norwegian EHR) approximate the US source fields;
  see `docs/model.md`.
- A patient whose record lacks a feature gets no prediction (no imputation); nor
  does one whose values lie outside the training support (the guard of
  `docs/model.md`): short Norwegian diagnosis lists and stays longer than 14
  days are outside it.
- {_difference_sentence(held)}

## Data

`readmission_dev_full.csv`: {data['rows']:,} inpatient encounters of diabetic
patients used ({data['events']:,} readmitted within 30 days), SHA-256 of the CSV
text `{data['sha256'][:16]}...`; {data.get('left_out_died', 0):,} stays that ended in
death are left out (no readmission possible). The development part (~80%) of
the 71,515-encounter version of the UCI "Diabetes 130-US hospitals" data
published in the R package `readmission`, with the source's further columns.
The remaining ~20% is kept apart by the project and was never used here.

Attribution (required by the licences):

- Strack B, DeShazo JP, Gennings C, Olmo JL, Ventura S, Cios KJ, Clore JN.
  Impact of HbA1c measurement on hospital readmission rates: analysis of 70,000
  clinical database patient records. BioMed Research International 2014;781670.
  doi:10.1155/2014/781670 (CC BY 3.0).
- Clore J, Cios K, DeShazo J, Strack B. Diabetes 130-US hospitals for years
  1999-2008. UCI Machine Learning Repository, 2014. doi:10.24432/C5230J (CC BY 4.0).
- R package `readmission` by Simon Couch (MIT), via the Fairlearn project (MIT).

## Features

{', '.join(f'`{f}`' for f in metadata['features'])}: age band (10-year bins), sex,
emergency admission, length of stay (days), admissions, emergency department
visits and outpatient visits in the previous 12 months (separately), number of
diagnoses, procedures and distinct medications of the stay, HbA1c category (not
measured / < 7% / 7-8% / > 8%, Strack 2014), discharge group (home; home with
services; nursing facility or municipal short-term stay; rehabilitation; other
inpatient care; other; not recorded) and primary-diagnosis group (ICD-10
chapter). **No race, no payer.** Medication changes were left out: the source
records changes of diabetes drugs only, which has no clear FHIR counterpart for
all medicines. Definitions: `src/cds/model/features.py`, tables in
`src/cds/model/data/`.

## Cross-validated performance (the figures to quote)

{_cv_section(metadata)}

## The committed model

Candidates fitted on the training rows of one seeded split (seed
{metadata['seed']}, stratified): train {rows['train']:,} ({split['train']:.0%}),
validation {rows['validation']:,} ({split['validation']:.0%}), test
{rows['test']:,} ({split['test']:.0%}). Validation AUROC: {cand_lines}; chosen:
**{cand['chosen']}**. Calibration: {metadata['calibration']}. Contributions shown
with a prediction are exact Shapley values against the reference patient
(training median / most frequent value), near-zero ones left out.

Its own held-out test rows (one split; the cross-validated figures above are
the better estimate):

{metrics_table(metadata['held_out_metrics'])}

Reproducibility: `cds model train` (seed {metadata['seed']}) rebuilds this
artefact and every figure in this card. The skops file is written canonically
and the model is fitted on one OpenMP thread, so the same platform and library
versions give the same bytes (SHA-256 above). Elsewhere the documented
tolerance is 1e-6 on every held-out probability, checked by
`tests/model/test_committed_model.py`. Built with {versions}.

### Baselines

Computed from the same columns, only the items the columns allow
(`src/cds/model/data/baselines.yaml`):

{_baseline_section()}

## Plots

ROC curves of the model and both baselines on the held-out rows of the
committed model:

![ROC]({ROC_PNG})

Calibration (observed rate against predicted risk by decile, held-out rows,
all and age 70+):

![Calibration]({CALIBRATION_PNG})
"""
