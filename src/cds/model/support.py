"""Where the training data supports the model: per feature, the training range and density.

A learned model is only checked where it has seen data. For every feature the
artefact keeps (``feature_support`` in ``metadata.json``, covered by the
checksum) the training minimum and maximum, the share of training rows at each
value, and the supported set: for a count or a length of stay, the central
interval that holds all but ``tail_share`` of the training rows at either end;
for a category or a flag, the values held by at least ``min_value_share`` of
the rows. A snapshot with any feature outside its supported set gets no
probability (`OutsideTrainingData`): the rules see the risk as unknown, as for a
missing feature, instead of a figure the model extrapolated. Both shares are
parameters of ``data/features.yaml`` (sources silent; documented defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cds.model.features import CATEGORICAL_FEATURES

__all__ = ["CATEGORICAL", "OutsideTrainingData", "SupportConfig", "feature_support", "outside_support"]

#: Features whose values are categories or flags (support by share), not quantities (support by interval).
CATEGORICAL = CATEGORICAL_FEATURES


class OutsideTrainingData(ValueError):
    """The snapshot's value of some feature lies where the training data is too thin; ``features`` names them."""

    def __init__(self, features: list[str]) -> None:
        self.features = tuple(features)
        super().__init__("outside the training data of the readmission model: " + ", ".join(features))


@dataclass(frozen=True)
class SupportConfig:
    tail_share: float
    min_value_share: float


def feature_support(features: pd.DataFrame, config: SupportConfig, categorical: frozenset[str] = CATEGORICAL) -> dict[str, Any]:
    """The support of every column of ``features`` (training rows), for ``metadata.json``."""
    out: dict[str, Any] = {}
    for name in features.columns:
        values = features[name].to_numpy(dtype=float)
        unique, counts = np.unique(values, return_counts=True)
        shares = counts / len(values)
        entry: dict[str, Any] = {
            "min": float(values.min()),
            "max": float(values.max()),
            "shares": {_key(v): round(float(s), 6) for v, s in zip(unique, shares, strict=True)},
        }
        if name in categorical:
            entry["kind"] = "category"
            entry["supported_values"] = [float(v) for v, s in zip(unique, shares, strict=True) if s >= config.min_value_share]
        else:
            entry["kind"] = "quantity"
            entry["low"] = float(np.quantile(values, config.tail_share, method="lower"))
            entry["high"] = float(np.quantile(values, 1 - config.tail_share, method="higher"))
        out[str(name)] = entry
    out["_parameters"] = {"tail_share": config.tail_share, "min_value_share": config.min_value_share}
    return out


def _key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def outside_support(values: dict[str, float], support: dict[str, Any]) -> list[str]:
    """The features of ``values`` outside their supported set (empty: inside everywhere)."""
    outside = []
    for name, value in values.items():
        entry = support.get(name)
        if entry is None:
            outside.append(name)  # an artefact without support for a feature: nothing to vouch for the value
        elif entry["kind"] == "category":
            if float(value) not in entry["supported_values"]:
                outside.append(name)
        elif not entry["low"] <= float(value) <= entry["high"]:
            outside.append(name)
    return outside
