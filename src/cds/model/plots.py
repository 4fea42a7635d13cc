"""ROC and calibration plots (PNG, matplotlib Agg) of the model on held-out rows."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from cds.model.baselines import baseline_points  # noqa: E402
from cds.model.dataset import ReadmissionData  # noqa: E402

__all__ = ["CALIBRATION_PNG", "ROC_PNG", "write_plots"]

ROC_PNG = "roc.png"
CALIBRATION_PNG = "calibration.png"
_LABELS = {"model": "Model", "lace_style": "LACE-style", "hospital_style": "HOSPITAL-style"}
_PNG_METADATA = {"Software": None}  # no version stamp, so equal data give equal files


def write_plots(directory: Path, data: ReadmissionData, probability: np.ndarray, metrics: dict) -> list[Path]:
    """Write the ROC plot (model and baselines) and the calibration plot (all, 70+) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return [_roc(directory / ROC_PNG, data, probability, metrics), _calibration(directory / CALIBRATION_PNG, data, probability)]


def _roc(path: Path, data: ReadmissionData, probability: np.ndarray, metrics: dict) -> Path:
    scores = {"model": probability, **baseline_points(data.features)}
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(data.outcome, score)
        m = metrics["all"][name]
        ax.plot(fpr, tpr, label=f"{_LABELS[name]} AUROC {m['auroc']:.3f} [{m['auroc_low']:.3f}-{m['auroc_high']:.3f}]")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title(f"30-day readmission, held-out rows (n={len(data.outcome):,})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_PNG_METADATA)
    plt.close(fig)
    return path


def _calibration(path: Path, data: ReadmissionData, probability: np.ndarray) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    top = 0.05
    for label, mask in (("all held-out rows", np.ones(len(probability), dtype=bool)), ("age 70+", data.age70)):
        if mask.sum() < 20 or len(np.unique(data.outcome[mask])) < 2:
            continue
        observed, predicted = calibration_curve(data.outcome[mask], probability[mask], n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=f"{label} (n={int(mask.sum()):,})")
        top = max(top, float(predicted.max()), float(observed.max()))
    top *= 1.2
    ax.plot([0, top], [0, top], linestyle=":", color="grey", label="perfect calibration")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted probability (mean per decile)")
    ax.set_ylabel("observed readmission rate")
    ax.set_title("Calibration, held-out rows (deciles of predicted risk)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_PNG_METADATA)
    plt.close(fig)
    return path
