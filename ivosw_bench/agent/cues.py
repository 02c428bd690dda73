"""Per-frame cues of a backend's prediction that need no ground truth (usable in the wild setting).

- ``area``: the fraction of the frame labelled as an object;
- ``area_jump``: how much that fraction differs from the neighbouring frames' (a propagation that
  loses or floods the object jumps);
- ``flicker``: 1 - IoU of the object pixels with the previous and next frames (mean);
- ``uncertainty``: the mean of (1 - the winning probability) over the frame, from the backend's
  probabilities (0 when it gives none).

Computed on a coarse grid (``step`` pixels), so that they cost a few milliseconds for a 480p video
and do not depend on the video's resolution.
"""
from __future__ import annotations

import numpy as np

CUES = ("area", "area_jump", "flicker", "uncertainty")


def prediction_cues(labels: np.ndarray, low_res_probs: np.ndarray | None = None, step: int = 4) -> np.ndarray:
    """[T, 4] float32 cues of a prediction (labels [T, H, W]; probabilities [K+1, T, h, w] optional)."""
    lab = np.asarray(labels)
    grid = max(1, int(round(step * lab.shape[1] / 240)))  # the same cell size at 240p and 480p
    fg = lab[:, ::grid, ::grid] != 0
    T = len(fg)
    area = fg.reshape(T, -1).mean(axis=1)
    prev_a, next_a = np.r_[area[:1], area[:-1]], np.r_[area[1:], area[-1:]]
    jump = 0.5 * (np.abs(area - prev_a) + np.abs(area - next_a))
    inter = (fg[1:] & fg[:-1]).reshape(T - 1, -1).sum(axis=1) if T > 1 else np.zeros(0)
    union = (fg[1:] | fg[:-1]).reshape(T - 1, -1).sum(axis=1) if T > 1 else np.zeros(0)
    change = np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)
    flicker = 0.5 * (np.r_[change[:1], change] + np.r_[change, change[-1:]]) if T > 1 else np.zeros(T)
    if low_res_probs is not None:
        p = np.asarray(low_res_probs, np.float32)
        unc = 1.0 - (p.max(axis=0) / np.maximum(p.sum(axis=0), 1e-6)).reshape(T, -1).mean(axis=1)
    else:
        unc = np.zeros(T)
    return np.stack([area, jump, flicker, unc], 1).astype(np.float32)
