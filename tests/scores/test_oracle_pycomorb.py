"""Independent check: HFRS and Charlson (Quan) against the open-source package pycomorb.

1,500 seeded random code sets are drawn from the union of both projects' code lists
(our data tables and pycomorb's definition files), extended with random fourth and fifth
characters so that prefix matching is exercised, written with dots and in the Norwegian,
WHO and ICD-10-CM systems on our side. Every total and every Charlson category must agree.

The one known difference is pinned in its own test: pycomorb writes the ranges C00-C19 as the
two-character prefixes ``C0`` and ``C1``, so it also counts the bare strings "C0"/"C1", which are
not ICD-10 codes; our list holds three-character categories and does not.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pycomorb  # test-only dependency (pyproject [test] extra)
import pytest

from cds.facts.snapshot import Coding, ConditionFact, PatientSnapshot
from cds.scores import Charlson, Hfrs
from cds.scores._data import load_csv, load_yaml

N_SETS = 1500
SEED = 20261122
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
SYSTEMS = (
    "urn:oid:2.16.578.1.12.4.1.1.7110",
    "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-10-cm",
)
COMMON = Path(pycomorb.__file__).parent / "common"

def _pycomorb_prefixes() -> set[str]:
    prefixes: set[str] = set()
    with open(COMMON / "CHARLSON_QUAN.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["category"] != "Age":
                prefixes |= set(row["icd10_codes"].split("|"))
    with open(COMMON / "HFRS.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            prefixes |= set(row["icd10_codes"].split("|"))
    return prefixes


def _code_sets() -> list[list[str]]:
    ours = {r["code"] for r in load_csv("charlson_quan2005_icd10.csv")} | {r["code"] for r in load_csv("hfrs.csv")}
    pool = sorted(ours | _pycomorb_prefixes())
    rng = random.Random(SEED)
    sets = []
    for _ in range(N_SETS):
        codes = []
        for _ in range(rng.randint(1, 8)):
            code = rng.choice(pool)
            while len(code) < 3:  # "C0" -> "C07": only real three-character categories
                code += rng.choice("0123456789")
            while len(code) < 5 and rng.random() < 0.6:
                code += rng.choice("0123456789")
            codes.append(code)
        sets.append(codes)
    return sets


def _snapshot(codes: list[str], rng: random.Random) -> PatientSnapshot:
    conditions = []
    for code in codes:
        written = f"{code[:3]}.{code[3:]}" if len(code) > 3 and rng.random() < 0.5 else code
        coding = Coding(system=rng.choice(SYSTEMS), code=written)
        conditions.append(ConditionFact(codings=(coding,), in_current_encounter=True))
    return PatientSnapshot(now=NOW, patient_key="oracle", age=80, conditions=tuple(conditions))


@pytest.fixture(scope="module")
def comparison() -> list[dict]:
    sets = _code_sets()
    rows = [(i, code, 40) for i, codes in enumerate(sets) for code in codes]  # age 40: no Charlson age points
    frame = pl.DataFrame(rows, schema=["id", "code", "age"], orient="row")
    cci = pycomorb.CharlsonComorbidityIndex(frame, implementation="quan", weights="quan", return_categories=True)
    hfrs = pycomorb.HospitalFrailtyRiskScore(frame.select("id", "code"))
    cci_by_id = {r["id"]: r for r in cci.iter_rows(named=True)}
    hfrs_by_id = {r["id"]: r["HFRS Score"] for r in hfrs.iter_rows(named=True)}
    rng = random.Random(SEED + 1)
    out = []
    for i, codes in enumerate(sets):
        snapshot = _snapshot(codes, rng)
        out.append(
            {
                "codes": codes,
                "charlson": Charlson().score(snapshot),
                "hfrs": Hfrs().score(snapshot),
                "oracle_cci": cci_by_id[i],
                "oracle_hfrs": hfrs_by_id[i],
            }
        )
    return out


def test_at_least_1000_random_code_sets_are_compared(comparison) -> None:
    assert len(comparison) >= 1000


def test_random_sets_hit_every_charlson_category_and_many_hfrs_categories(comparison, pycomorb_names) -> None:
    charlson_hit = {i.name for c in comparison for i in c["charlson"].items if i.value}
    hfrs_hit = {i.name for c in comparison for i in c["hfrs"].items}
    assert charlson_hit == set(pycomorb_names)
    assert len(hfrs_hit) >= 100


def test_hfrs_totals_agree_with_pycomorb(comparison) -> None:
    disagreements = [
        (c["codes"], c["hfrs"].points, c["oracle_hfrs"])
        for c in comparison
        if abs(c["hfrs"].points - c["oracle_hfrs"]) > 1e-9
    ]
    assert disagreements == []


def test_charlson_totals_agree_with_pycomorb(comparison) -> None:
    disagreements = [
        (c["codes"], c["charlson"].points, c["oracle_cci"]["Charlson Comorbidity Index"])
        for c in comparison
        if c["charlson"].points != c["oracle_cci"]["Charlson Comorbidity Index"]
    ]
    assert disagreements == []


def test_charlson_categories_found_agree_with_pycomorb(comparison, pycomorb_names) -> None:
    disagreements = []
    for c in comparison:
        ours = {i.name for i in c["charlson"].items if i.value}
        theirs = {key for key, name in pycomorb_names.items() if c["oracle_cci"][name]}
        # pycomorb clears the milder category of a hierarchy pair; we report it as present but scoring 0
        superseded = {i.name for i in c["charlson"].items if any(u.startswith("superseded by") for u in i.used)}
        if ours - superseded != theirs:
            disagreements.append((c["codes"], sorted(ours), sorted(theirs)))
    assert disagreements == []


def test_both_use_the_quan_2011_weights_from_scores_md(pycomorb_names) -> None:
    with open(COMMON / "CHARLSON_WEIGHTS.csv", encoding="utf-8") as f:
        theirs = {r["category"]: float(r["quan_weights"]) for r in csv.DictReader(f)}
    ours = {k: float(v["weight"]) for k, v in load_yaml("charlson.yaml")["categories"].items()}
    renamed = {"malignancy": "Any malignancy"}
    assert ours == {k: theirs[renamed.get(k, pycomorb_names[k])] for k in ours}


def test_known_difference_bare_two_character_c0_counts_in_pycomorb_only() -> None:
    frame = pl.DataFrame({"id": [1], "code": ["C0"], "age": [40]})
    theirs = pycomorb.CharlsonComorbidityIndex(frame, implementation="quan", weights="quan")
    snapshot = _snapshot(["C0"], random.Random(0))
    assert theirs["Charlson Comorbidity Index"][0] == 2
    assert Charlson().score(snapshot).points == 0
