"""The model's features: one definition for CSV rows and for snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from cds.facts.snapshot import (
    Coding,
    ConditionFact,
    EventFact,
    LabFact,
    MedicationFact,
    PatientSnapshot,
    ProcedureFact,
    Sex,
)
from cds.model.features import (
    FEATURES,
    FeatureUnavailable,
    features_from_frame,
    features_from_snapshot,
    hba1c_category,
)

ADMITTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def csv_row(**overrides: str) -> pd.DataFrame:
    row = {
        "readmitted": "No", "race": "Caucasian", "sex": "Female", "age": "[80-90)",
        "admission_source": "Emergency", "blood_glucose": "Very High", "insurer": "Medicare",
        "duration": "6.0", "n_previous_visits": "3.0", "n_diagnoses": "9.0",
        "n_procedures": "1.0", "n_medications": "12.0", "discharge_disposition_id": "6",
        "number_outpatient": "1", "number_emergency": "0", "number_inpatient": "2", "diag_1": "428",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def astrid(**overrides: object) -> PatientSnapshot:
    """Astrid, 84, admitted through the ED after a fall; six days in hospital; HbA1c 70 mmol/mol."""
    fields: dict[str, object] = {
        "now": ADMITTED + timedelta(days=6),
        "patient_key": "k-astrid",
        "age": 84,
        "sex": Sex.female,
        "encounter_id": "stay",
        "encounter_start": ADMITTED,
        "encounter_end": ADMITTED + timedelta(days=6),
        "length_of_stay_days": 6,
        "admission_emergent": True,
        "admissions": (EventFact(start=ADMITTED - timedelta(days=40), encounter_id="a1"),),
        "ed_visits": (
            EventFact(start=ADMITTED - timedelta(days=100), encounter_id="e1"),
            EventFact(start=ADMITTED - timedelta(days=400), encounter_id="e-old"),  # outside the year
        ),
        "outpatient_visits": (EventFact(start=ADMITTED - timedelta(days=200), encounter_id="o1"),),
        "conditions": (
            ConditionFact(codings=(Coding(system=ICD10, code="S72.0"),), in_current_encounter=True),
            ConditionFact(codings=(Coding(system=ICD10, code="E11.9"),), in_current_encounter=True),
            ConditionFact(codings=(Coding(system=ICD10, code="I10"),), in_current_encounter=False),
        ),
        "procedures": (ProcedureFact(codings=(Coding(code="NFJ"),), in_current_encounter=True),),
        "labs": (
            LabFact(concept="lab.hba1c", codings=(), value=70.0, unit="mmol/mol", effective=ADMITTED + timedelta(hours=5)),
        ),
        "medications": tuple(MedicationFact(codings=(Coding(code=f"m{i}"),)) for i in range(5)),
        "active_medication_count": 5,
        "primary_diagnosis": "S72.0",
        "discharge_destination": "home",
        "municipal_services_after": ("home-nursing",),
    }
    fields.update(overrides)
    return PatientSnapshot(**fields)


def test_features_exclude_race_and_insurer() -> None:
    assert not {"race", "insurer"} & set(FEATURES)
    a = features_from_frame(csv_row(race="Caucasian", insurer="Medicare"))
    b = features_from_frame(csv_row(race="Asian", insurer=""))
    pd.testing.assert_frame_equal(a, b)


def test_csv_row_gives_the_documented_features() -> None:
    features = features_from_frame(csv_row()).iloc[0].to_dict()
    assert features == {
        "age_band": 80.0, "female": 1.0, "emergency": 1.0, "los_days": 6.0,
        "prior_inpatient": 2.0, "prior_emergency": 0.0, "prior_outpatient": 1.0,
        "n_diagnoses": 9.0, "n_procedures": 1.0, "n_medications": 12.0, "hba1c": 3.0,
        "discharge_group": 2.0,  # UCI 6: home with home health service
        "diagnosis_group": 9.0,  # ICD-9 428 heart failure -> ICD-10 chapter IX
    }


def test_csv_empty_hba1c_is_the_unknown_category() -> None:
    assert features_from_frame(csv_row(blood_glucose="")).iloc[0]["hba1c"] == 0.0


def test_csv_referral_is_not_an_emergency_admission() -> None:
    assert features_from_frame(csv_row(admission_source="Referral")).iloc[0]["emergency"] == 0.0


@pytest.mark.parametrize(
    ("value", "unit", "category"),
    [
        (6.9, "%", "Normal"),
        (7.0, "%", "High"),
        (8.0, "%", "High"),
        (8.1, "%", "Very High"),
        (48.0, "mmol/mol", "Normal"),  # 6.5 %
        (52.0, "mmol/mol", "Normal"),  # 6.9 %
        (53.0, "mmol/mol", "High"),  # 7.0 %
        (58.0, "mmol/mol", "High"),  # 7.5 %
        (63.9, "mmol/mol", "High"),  # 8.0 %
        (65.0, "mmol/mol", "Very High"),  # 8.1 %
        (70.0, "mmol/mol", "Very High"),  # 8.6 %
    ],
)
def test_hba1c_category_thresholds_follow_strack_2014(value: float, unit: str, category: str) -> None:
    assert hba1c_category(value, unit) == category


def test_snapshot_of_astrid_gives_her_features() -> None:
    assert features_from_snapshot(astrid()) == {
        "age_band": 80.0, "female": 1.0, "emergency": 1.0, "los_days": 6.0,
        # admission 40 d, ED 100 d, outpatient 200 d; the ED visit 400 d ago is outside the year
        "prior_inpatient": 1.0, "prior_emergency": 1.0, "prior_outpatient": 1.0,
        "n_diagnoses": 2.0,  # only the diagnoses of this stay
        "n_procedures": 1.0, "n_medications": 5.0, "hba1c": 3.0,
        "discharge_group": 2.0,  # home, home nursing after discharge
        "diagnosis_group": 19.0,  # S72.0 hip fracture: chapter XIX injury
    }


def test_snapshot_age_over_99_goes_into_the_last_csv_band() -> None:
    assert features_from_snapshot(astrid(age=101))["age_band"] == 90.0


def test_snapshot_hba1c_from_an_earlier_stay_is_not_this_stays_measurement() -> None:
    old = LabFact(concept="lab.hba1c", codings=(), value=9.5, unit="%", effective=ADMITTED - timedelta(days=90))
    assert features_from_snapshot(astrid(labs=(old,)))["hba1c"] == 0.0


def test_snapshot_without_known_facts_names_every_missing_feature() -> None:
    with pytest.raises(FeatureUnavailable) as info:
        features_from_snapshot(astrid(sex=Sex.unknown, length_of_stay_days=None, conditions=None))
    assert info.value.missing == ("female", "los_days", "n_diagnoses")


def test_snapshot_hba1c_in_an_unknown_unit_is_missing_not_normal() -> None:
    lab = LabFact(concept="lab.hba1c", codings=(), value=0.07, unit="1", effective=ADMITTED + timedelta(hours=1))
    with pytest.raises(FeatureUnavailable) as info:
        features_from_snapshot(astrid(labs=(lab,)))
    assert info.value.missing == ("hba1c",)


def test_snapshot_hba1c_reported_in_percent_is_categorised_as_reported() -> None:
    """7.0 % converted by the fact builder to 52.9955 mmol/mol must not fall back to Normal."""
    lab = LabFact(
        concept="hba1c", codings=(), value=52.9955, unit="mmol/mol", original_value=7.0, original_unit="%",
        effective=ADMITTED + timedelta(hours=1),
    )
    assert features_from_snapshot(astrid(labs=(lab,)))["hba1c"] == 2.0


def test_snapshot_hba1c_measured_but_not_convertible_is_missing_not_unmeasured() -> None:
    lab = LabFact(
        concept="hba1c", codings=(), value=None, original_value=0.07, original_unit="1",
        effective=ADMITTED + timedelta(hours=1),
    )
    with pytest.raises(FeatureUnavailable) as info:
        features_from_snapshot(astrid(labs=(lab,)))
    assert info.value.missing == ("hba1c",)



def test_hba1c_categories_convert_with_the_lab_terminology_table_not_a_copy_of_it() -> None:
    from cds.model.features import LAB_TERMINOLOGY_DIR, FeatureConfig
    from cds.terminology import Terminology

    hba1c = Terminology.load(LAB_TERMINOLOGY_DIR).lab("lab.hba1c")
    assert FeatureConfig.load().hba1c_lab == hba1c
    factor = str(hba1c.conversions["%"].factor)
    from importlib import resources

    assert factor not in resources.files("cds.model").joinpath("data/features.yaml").read_text(encoding="utf-8")


def test_a_value_the_fact_builder_converted_from_percent_gets_the_category_of_the_percent_value() -> None:
    from cds.model.features import FeatureConfig

    hba1c = FeatureConfig.load().hba1c_lab
    for percent in (6.9, 7.0, 8.0, 8.1):
        assert hba1c_category(hba1c.to_canonical(percent, "%"), "mmol/mol") == hba1c_category(percent, "%")


@pytest.mark.parametrize(
    ("destination", "after", "group"),
    [
        (None, None, 0.0),  # no discharge disposition: the "not recorded" group, as in the training data
        ("home", (), 1.0),
        ("home", ("home-nursing",), 2.0),
        ("nursing-home", None, 3.0),
        ("short-term-stay", None, 3.0),  # municipal short-term stay with the skilled nursing facilities
        ("rehabilitation", None, 4.0),
        ("other-hospital", None, 5.0),
        ("other", None, 6.0),
    ],
)
def test_snapshot_discharge_destination_gives_the_group_of_the_training_codes(
    destination: str | None, after: tuple[str, ...] | None, group: float
) -> None:
    snapshot = astrid(discharge_destination=destination, municipal_services_after=after)
    assert features_from_snapshot(snapshot)["discharge_group"] == group


def test_discharge_home_with_services_unknown_leaves_the_group_unknown() -> None:
    with pytest.raises(FeatureUnavailable, match="discharge_group"):
        features_from_snapshot(astrid(discharge_destination="home", municipal_services_after=None))


def test_without_a_primary_diagnosis_the_diagnosis_group_is_unknown_not_other() -> None:
    with pytest.raises(FeatureUnavailable, match="diagnosis_group"):
        features_from_snapshot(astrid(primary_diagnosis=None))


def test_csv_rows_of_patients_who_died_are_rejected_by_the_group_table_only_if_unknown() -> None:
    assert features_from_frame(csv_row(discharge_disposition_id="11")).iloc[0]["discharge_group"] == 9.0
    with pytest.raises(ValueError, match="discharge_disposition_id"):
        features_from_frame(csv_row(discharge_disposition_id="99"))


def test_every_model_feature_has_a_card_label_in_nb_and_en() -> None:
    import yaml

    from .conftest import REPO

    labels = yaml.safe_load((REPO / "rules" / "codesystems" / "labels.yaml").read_text(encoding="utf-8"))
    feature_labels = labels["feature"]["labels"]
    assert set(feature_labels) == set(FEATURES)
    assert all(text["nb"] and text["en"] for text in feature_labels.values())
