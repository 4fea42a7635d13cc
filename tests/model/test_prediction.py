"""ReadmissionModel.predict: a snapshot in, a calibrated probability with contributions out."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.facts.snapshot import Sex
from cds.model import FEATURES, FeatureUnavailable, ReadmissionModel

from .test_features import astrid


@pytest.fixture(scope="module")
def model(trained_dir: Path) -> ReadmissionModel:
    return ReadmissionModel.load(trained_dir)


def test_astrid_gets_a_probability_from_the_loaded_model_version(model: ReadmissionModel) -> None:
    prediction = model.predict(astrid())
    assert 0.0 < prediction.probability < 1.0
    assert prediction.model_version == model.metadata["version"]


def test_contributions_name_only_model_features_largest_first(model: ReadmissionModel) -> None:
    contributions = model.predict(astrid()).contributions
    assert contributions and {name for name, _ in contributions} <= set(FEATURES)
    sizes = [abs(value) for _, value in contributions]
    assert sizes == sorted(sizes, reverse=True)


def test_more_earlier_admissions_raise_the_risk_and_show_as_a_positive_contribution(model: ReadmissionModel) -> None:
    """In the synthetic data readmission rises with prior visits, as in the real data."""
    from cds.facts.snapshot import EventFact

    base = astrid(admissions=(), ed_visits=(), outpatient_visits=())
    busy_visits = tuple(
        EventFact(start=base.encounter_start.replace(month=1, day=d), encounter_id=f"a{d}") for d in range(1, 4)
    )
    busy = astrid(admissions=busy_visits, ed_visits=(), outpatient_visits=())
    assert model.predict(busy).probability > model.predict(base).probability
    assert dict(model.predict(busy).contributions)["prior_inpatient"] > 0


def test_a_snapshot_lacking_features_gets_no_prediction(model: ReadmissionModel) -> None:
    with pytest.raises(FeatureUnavailable):
        model.predict(astrid(sex=Sex.unknown))
    assert model.try_predict(astrid(sex=Sex.unknown)) is None
