"""The learned quality estimator of the Wild setting: the QA network's per-frame J&F prediction.

It never sees ground truth: ``reset`` drops any ``gt`` it is given, and ``estimate`` only reads the
frames and the backend's prediction (``prediction.probs`` when the backend has probabilities, else
one-hot ``prediction.labels``). See :mod:`ivosw_bench.quality.model` for the network and the rule
for objects with no predicted pixel (the checkpoint's constant ``empty_quality``).

A frame's estimate depends only on that frame's pixels, labels and probabilities, and a round's
interaction can leave many frames' predictions unchanged (a backend that re-propagates near the new
scribble; the classic backend's global colour model changes almost every frame, only its annotated
ones stay), so within a sample the estimate of a frame whose labels and working-resolution
probabilities are byte-identical to an earlier round's is reused (``reuse=True``, keyed by a
SHA-256 digest of those bytes); only the other frames go through the network.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .base import QualityEstimator
from .model import QualityModel, default_weights


class LearnedQuality(QualityEstimator):
    name = "learned"
    uses_ground_truth = False

    def __init__(self, weights: str | Path | None = None, device: str = "auto", batch_size: int = 64,
                 model: QualityModel | None = None, precision: str = "auto", reuse: bool = True,
                 tta: bool = False):
        """``weights``: a local checkpoint path (default: the shipped ``weights/quality-classic.pt``);
        ``tta``: every crop's estimate is the mean over the crop and its mirror image (twice the
        network's work)."""
        self.batch_size = batch_size
        self.reuse = reuse
        self._memo: dict[bytes, np.ndarray] = {}
        self.frames_computed = 0  # frames that went through the network since the last reset
        if model is not None:
            self.model = model
        else:
            path = Path(weights) if weights is not None else default_weights()
            self.model = QualityModel.load(path, device=device, precision=precision)  # WeightsError naming the file
        self.model.tta = bool(tta)
        self.last_objects: np.ndarray | None = None

    def reset(self, sequence, frames, n_objects, gt=None):
        # ground truth is ignored on purpose (Wild setting): never stored, never read
        super().reset(sequence, frames, n_objects)
        self._memo, self.frames_computed = {}, 0

    def estimate(self, frames, prediction) -> np.ndarray:
        labels = np.asarray(prediction.labels)
        low = prediction.low_res_probs
        probs = prediction.probs if prediction.has_probs and low is None else None
        frames = np.asarray(frames)
        if not self.reuse or probs is not None:
            self.frames_computed += len(frames)
            q, q_obj = self.model.predict_video(frames, probs=probs, labels=labels, low_res_probs=low,
                                                n_objects=self.n_objects, batch_size=self.batch_size)
            self.last_objects = q_obj
            return q.astype(np.float64)
        keys = [_frame_key(labels[t], None if low is None else low[:, t]) for t in range(len(frames))]
        miss = [t for t, k in enumerate(keys) if k not in self._memo]
        if miss:
            self.frames_computed += len(miss)
            # read in place: a fancy-indexed copy of the video costs ~0.25 s per round at 480p
            _, q_miss = self.model.predict_video(frames, labels=labels, low_res_probs=low, frame_ids=miss,
                                                 n_objects=self.n_objects, batch_size=self.batch_size)
            for t, row in zip(miss, q_miss):
                self._memo[keys[t]] = row
        q_obj = np.stack([self._memo[k] for k in keys]).astype(np.float32)
        self.last_objects = q_obj
        return self.model.frame_quality(q_obj).astype(np.float64)


def _frame_key(labels: np.ndarray, low_res: np.ndarray | None) -> bytes:
    """A digest of one frame's prediction (labels and, when given, working-resolution probabilities).
    SHA-256 (hardware-accelerated on current CPUs: 2.7x faster than BLAKE2 here), fed plane by plane:
    a frame's probabilities [K+1, h, w] are a non-contiguous slice, its planes are contiguous."""
    h = hashlib.sha256()
    for a in (labels, low_res):
        if a is not None:
            h.update(f"{a.dtype}{a.shape}".encode())
            for plane in (a if a.ndim == 3 else (a,)):
                h.update(np.ascontiguousarray(plane).data)
    return h.digest()
