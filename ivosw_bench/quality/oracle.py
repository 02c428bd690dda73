"""Oracle quality: per-frame J&F against ground truth, averaged over objects (davisinteractive's
own J and F code, so the numbers equal those of its report)."""
from __future__ import annotations

import numpy as np

from .base import QualityError, QualityEstimator


def per_frame_jf(gt: np.ndarray, labels: np.ndarray, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """(J, F) arrays of shape [T, K] exactly as davisinteractive's evaluation computes them."""
    import ivosw_bench.compat as compat

    compat.apply()
    from davisinteractive.metrics import batched_f_measure, batched_jaccard

    j = batched_jaccard(gt, labels, average_over_objects=False, nb_objects=n_objects)
    f = batched_f_measure(gt, labels, average_over_objects=False, nb_objects=n_objects)
    return np.asarray(j, np.float64), np.asarray(f, np.float64)


class OracleQuality(QualityEstimator):
    name = "oracle"
    uses_ground_truth = True

    def reset(self, sequence, frames, n_objects, gt=None):
        super().reset(sequence, frames, n_objects)
        if gt is None:
            raise QualityError(f"oracle quality needs the ground truth of '{sequence}'")
        self.gt = gt

    def estimate(self, frames, prediction) -> np.ndarray:
        j, f = per_frame_jf(self.gt, prediction.labels, self.n_objects)
        return (0.5 * (j + f)).mean(axis=1)


def make_estimator(setting: str, weights: str | None = None) -> QualityEstimator:
    """oracle: GT J&F; wild: the learned QA network (``weights`` or the shipped checkpoint)."""
    if setting == "oracle":
        return OracleQuality()
    if setting == "wild":
        from .learned import LearnedQuality

        return LearnedQuality(weights=weights)
    raise QualityError(f"unknown setting '{setting}' (known: oracle, wild)")
