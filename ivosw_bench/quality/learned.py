"""The learned quality estimator of the Wild setting: the QA network's per-frame J&F prediction.

It never sees ground truth: ``reset`` drops any ``gt`` it is given, and ``estimate`` only reads the
frames and the backend's prediction (``prediction.probs`` when the backend has probabilities, else
one-hot ``prediction.labels``). See :mod:`ivosw_bench.quality.model` for the network and the rule
for objects with no predicted pixel (the checkpoint's constant ``empty_quality``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import QualityEstimator
from .model import QualityModel, default_weights


class LearnedQuality(QualityEstimator):
    name = "learned"
    uses_ground_truth = False

    def __init__(self, weights: str | Path | None = None, device: str = "auto", batch_size: int = 64,
                 model: QualityModel | None = None, precision: str = "auto"):
        """``weights``: a local checkpoint path (default: the shipped ``weights/quality-classic.pt``)."""
        self.batch_size = batch_size
        if model is not None:
            self.model = model
        else:
            path = Path(weights) if weights is not None else default_weights()
            self.model = QualityModel.load(path, device=device, precision=precision)  # WeightsError naming the file
        self.last_objects: np.ndarray | None = None

    def reset(self, sequence, frames, n_objects, gt=None):
        # ground truth is ignored on purpose (Wild setting): never stored, never read
        super().reset(sequence, frames, n_objects)

    def estimate(self, frames, prediction) -> np.ndarray:
        labels = np.asarray(prediction.labels)
        low = prediction.low_res_probs
        probs = prediction.probs if prediction.has_probs and low is None else None
        q, q_obj = self.model.predict_video(np.asarray(frames), probs=probs, labels=labels, low_res_probs=low,
                                            n_objects=self.n_objects, batch_size=self.batch_size)
        self.last_objects = q_obj
        return q.astype(np.float64)
