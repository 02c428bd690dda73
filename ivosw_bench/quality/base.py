"""The QualityEstimator contract: per-frame quality q_t in [0, 1] of a backend's prediction.

    est.reset(sequence, frames, n_objects, gt=None)   # once per sample
    q = est.estimate(frames, prediction)              # once per round -> float array [T]

``oracle`` (this package) compares with ground truth: the Oracle setting. The learned estimator of
the Wild setting never receives ground truth.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np


from ..errors import QualityError  # noqa: F401 (defined low, re-exported here)


class QualityEstimator:
    name: ClassVar[str] = "base"
    uses_ground_truth: ClassVar[bool] = False

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int,
              gt: np.ndarray | None = None) -> None:
        self.sequence, self.n_objects = sequence, n_objects

    def estimate(self, frames: np.ndarray, prediction) -> np.ndarray:  # pragma: no cover
        """Per-frame quality in [0, 1], [T]."""
        raise NotImplementedError

    def true_jf(self, prediction) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact (J, F) [T, K] of ``prediction`` when this estimator computed them (the oracle),
        so that the evaluation does not compute them again; None otherwise."""
        return None
