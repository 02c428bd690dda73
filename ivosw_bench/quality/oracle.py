"""Oracle quality: per-frame J&F against ground truth, averaged over objects (davisinteractive's
own J and F code, so the numbers equal those of its report)."""
from __future__ import annotations

import numpy as np

from ..jf import frame_quality, per_frame_jf
from .base import QualityError, QualityEstimator


class OracleQuality(QualityEstimator):
    name = "oracle"
    uses_ground_truth = True

    def reset(self, sequence, frames, n_objects, gt=None):
        super().reset(sequence, frames, n_objects)
        if gt is None:
            raise QualityError(f"oracle quality needs the ground truth of '{sequence}'")
        self.gt = gt
        self._last = None  # (labels, J, F) of the last estimate

    def estimate(self, frames, prediction) -> np.ndarray:
        j, f = per_frame_jf(self.gt, prediction.labels, self.n_objects)
        self._last = (prediction.labels, j, f)
        return frame_quality(j, f)

    def true_jf(self, prediction):
        last = self._last
        return last[1:] if last is not None and last[0] is prediction.labels else None


def make_estimator(setting: str, weights: str | None = None, tta: bool = False) -> QualityEstimator:
    """oracle: GT J&F; wild: the learned QA network (``weights`` or the shipped checkpoint; ``tta``:
    averaged over each crop and its mirror image)."""
    if setting == "oracle":
        return OracleQuality()
    if setting == "wild":
        from .learned import LearnedQuality

        return LearnedQuality(weights=weights, tta=tta)
    raise QualityError(f"unknown setting '{setting}' (known: oracle, wild)")
