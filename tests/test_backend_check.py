"""ivosw_bench/backend_check.py: a few measured, checked rounds of a backend (used by the upstream
tests and benchmarks/gpu_check.py)."""
from __future__ import annotations

import numpy as np

from backends.base import Prediction
from ivosw_bench.backend_check import check_backend, mask_problems, next_frame


def test_mask_problems_name_each_contract_breach():
    T, H, W, K = 2, 3, 4, 1
    good = np.zeros((T, H, W), np.int64)
    probs = np.stack([np.ones((T, H, W)), np.zeros((T, H, W))]).astype(np.float32)
    assert mask_problems(Prediction(good, probs), T, H, W, K) == []
    assert "labels of shape" in mask_problems(Prediction(good[:1], probs), T, H, W, K)[0]
    assert "expected [0, 1]" in mask_problems(Prediction(good + 2, probs), T, H, W, K)[0]
    assert "probs of shape" in mask_problems(Prediction(good, probs[:1]), T, H, W, K)[0]
    assert "sum to 1" in mask_problems(Prediction(good, probs * 0.5), T, H, W, K)[0]
    nan = probs.copy()
    nan[0, 0, 0, 0] = np.nan
    assert "not finite" in mask_problems(Prediction(good, nan), T, H, W, K)[0]
    assert mask_problems(Prediction(good), T, H, W, K) == []  # probabilities are optional


def test_next_frame_is_the_worst_not_annotated():
    assert next_frame(np.array([0.1, 0.5, 0.2, 0.2]), [0]) == 2
    assert next_frame(np.array([0.3, 0.1]), [0, 1]) == 1  # every frame annotated: all are candidates


def test_check_backend_runs_rounds_with_the_robot(tiny_davis):
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.registry import make_backend

    ds = open_dataset(tiny_davis, check=False)
    seen = []
    report = check_backend(make_backend("classic"), ds, "two", rounds=3, on_round=seen.append)
    assert report.ok and len(report.rounds) == 3 and seen == report.rounds
    assert report.frames_shape == (7, 48, 64, 3) and report.n_objects == 2
    first = report.rounds[0]
    assert first.frame == 3 and first.labels_shape == (7, 48, 64) and first.probs_shape == (3, 7, 48, 64)
    assert set(first.ids) <= {0, 1, 2} and first.gpu_peak_mb is None and first.rss_mb > 0
    assert len({r.frame for r in report.rounds}) == 3  # later rounds annotate new frames
    assert "masks ok" in first.line() and "J&F" in first.line()
