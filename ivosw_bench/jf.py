"""Region (J) and boundary (F) accuracy of predicted masks against ground truth, exactly as
davisinteractive 1.0.4's evaluation computes them (``davisinteractive.metrics.batched_jaccard`` and
``batched_f_measure``).

    j, f = per_frame_jf(gt, labels, n_objects)      # [T, K] each
    sample_jf(j, f)                                  # davisinteractive's J&F of the sample

A low module: the oracle quality, training episodes, the look-ahead and the evaluation service all use
it, and it imports nothing of the project above it.
"""
from __future__ import annotations

import numpy as np


def per_frame_jf(gt: np.ndarray, labels: np.ndarray, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """(J, F) arrays of shape [T, K] exactly as davisinteractive's evaluation computes them."""
    from . import compat

    compat.apply()
    from davisinteractive.metrics import batched_f_measure, batched_jaccard

    j = batched_jaccard(gt, labels, average_over_objects=False, nb_objects=n_objects)
    f = batched_f_measure(gt, labels, average_over_objects=False, nb_objects=n_objects)
    return np.asarray(j, np.float64), np.asarray(f, np.float64)


def frame_quality(j: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Per-frame J&F averaged over objects, [T]."""
    return (0.5 * (np.asarray(j) + np.asarray(f))).mean(axis=1)


def sample_jf(j: np.ndarray, f: np.ndarray) -> float:
    """davisinteractive's J&F of a sample: mean over objects of the mean over frames of (J + F) / 2."""
    return float((0.5 * (np.asarray(j) + np.asarray(f))).mean(axis=0).mean())
