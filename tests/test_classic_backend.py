"""Tests of the classical backend on tiny synthetic videos (textured squares moving on texture)."""
from __future__ import annotations

import numpy as np
import pytest

from backends.base import BackendError, validate_prediction
from backends.classic import ClassicBackend

T, H, W = 12, 64, 96


def make_video(drift: float = 0.0, seed: int = 0):
    """Two textured squares (red moving right, green moving down) on a textured blue-grey background.

    ``drift`` shifts object 1's colour towards the background colour over time (appearance change).
    Returns frames [T,H,W,3] uint8 and ground-truth labels [T,H,W] int64.
    """
    rng = np.random.default_rng(seed)
    frames = np.empty((T, H, W, 3), np.uint8)
    gt = np.zeros((T, H, W), np.int64)
    bg = np.clip(np.array([90, 110, 140]) + rng.normal(0, 12, (H, W, 3)), 0, 255)
    tex1 = rng.normal(0, 12, (16, 16, 3))
    tex2 = rng.normal(0, 12, (14, 14, 3))
    for t in range(T):
        img = bg.copy()
        x1, y1 = 8 + 3 * t, 10
        x2, y2 = 60, 6 + 2 * t
        c1 = (1 - drift * t / (T - 1)) * np.array([210, 50, 40]) + drift * t / (T - 1) * np.array([90, 110, 140])
        img[y1:y1 + 16, x1:x1 + 16] = c1 + tex1
        img[y2:y2 + 14, x2:x2 + 14] = np.array([40, 200, 60]) + tex2
        gt[t, y1:y1 + 16, x1:x1 + 16] = 1
        gt[t, y2:y2 + 14, x2:x2 + 14] = 2
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    return frames, gt


def stroke(points_px, object_id):
    """A davisinteractive stroke from (x, y) pixel points."""
    return {"path": [[(x + 0.5) / W, (y + 0.5) / H] for x, y in points_px], "object_id": object_id,
            "start_time": 0.0, "end_time": 1.0}


def scribbles(frame, strokes):
    per = [[] for _ in range(T)]
    per[frame] = strokes
    return {"sequence": "synthetic", "scribbles": per}


def first_round(frame=4):
    """Strokes along the middle of both objects on ``frame``."""
    x1, y2 = 8 + 3 * frame, 6 + 2 * frame
    return scribbles(frame, [stroke([(x1 + 3, 17), (x1 + 12, 18)], 1),
                             stroke([(x1 + 8, 13), (x1 + 8, 22)], 1),
                             stroke([(66, y2 + 3), (67, y2 + 10)], 2)])


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return np.logical_and(a, b).sum() / union if union else 1.0


@pytest.fixture(scope="module")
def video():
    return make_video()


def test_shapes_dtypes_and_probs(video):
    frames, _ = video
    be = ClassicBackend()
    be.reset("synthetic", frames, 2)
    pred = be.interact(first_round(), 4)
    validate_prediction(pred, T, H, W, 2, "classic")
    assert pred.labels.shape == (T, H, W) and pred.labels.dtype == np.uint8  # compact: 1 byte a pixel
    assert pred.labels.min() >= 0 and pred.labels.max() <= 2
    probs = pred.probs
    assert probs.shape == (3, T, H, W) and probs.dtype == np.float32
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(probs.argmax(0), pred.labels)


def test_annotated_frame_quality_and_seeds(video):
    frames, gt = video
    be = ClassicBackend(work_scale=1.0)
    be.reset("synthetic", frames, 2)
    pred = be.interact(first_round(4), 4)
    for k in (1, 2):
        assert iou(pred.labels[4] == k, gt[4] == k) > 0.8, k
    # scribbled pixels carry their scribble's label
    x1 = 8 + 3 * 4
    assert pred.labels[4, 17, x1 + 3] == 1 and pred.labels[4, 20, x1 + 8] == 1
    assert pred.labels[4, 6 + 8 + 5, 66] == 2


def test_background_stroke_removes_false_positive(video):
    frames, gt = video
    be = ClassicBackend(work_scale=1.0)
    be.reset("synthetic", frames, 2)
    be.interact(first_round(4), 4)
    # pretend the mask on frame 4 leaked: a positive stroke that crossed into the background
    be.reset("synthetic", frames, 2)
    x1 = 8 + 3 * 4
    leaky = scribbles(4, [stroke([(x1 + 3, 17), (x1 + 30, 17)], 1), stroke([(66, 11), (67, 24)], 2)])
    pred1 = be.interact(leaky, 4)
    fp_region = (gt[4] == 0) & (pred1.labels[4] == 1)
    assert fp_region.sum() > 10  # the leak is really there
    fix = scribbles(4, [stroke([(x1 + 20, 17), (x1 + 30, 17)], 0)])
    pred2 = be.interact(fix, 4)
    fp_after = (gt[4] == 0) & (pred2.labels[4] == 1)
    assert fp_after.sum() < 0.5 * fp_region.sum()
    assert (pred2.labels[4, 17, x1 + 20:x1 + 31] == 0).all()
    assert iou(pred2.labels[4] == 1, gt[4] == 1) > iou(pred1.labels[4] == 1, gt[4] == 1)


def test_propagation_follows_motion(video):
    frames, gt = video
    be = ClassicBackend(work_scale=1.0)
    be.reset("synthetic", frames, 2)
    pred = be.interact(first_round(4), 4)
    for t in (1, 8, 10):
        for k in (1, 2):
            got = iou(pred.labels[t] == k, gt[t] == k)
            static = iou(gt[4] == k, gt[t] == k)  # what copying the annotated mask would give
            assert got > 0.6 and got > static + 0.1, (t, k, got, static)


def test_quality_decays_with_distance_under_appearance_change():
    frames, gt = make_video(drift=0.8, seed=1)
    be = ClassicBackend(work_scale=1.0)
    be.reset("synthetic", frames, 2)
    pred = be.interact(first_round(1), 1)
    near = np.mean([iou(pred.labels[t] == 1, gt[t] == 1) for t in (1, 2, 3)])
    far = np.mean([iou(pred.labels[t] == 1, gt[t] == 1) for t in (9, 10, 11)])
    assert near > 0.7
    assert far <= near + 1e-6


def test_reset_drops_memory(video):
    frames, _ = video
    be = ClassicBackend(work_scale=1.0)
    be.reset("synthetic", frames, 2)
    be.interact(first_round(4), 4)
    be.reset("synthetic", frames, 2)
    # a round with no strokes after reset: nothing is known, everything is background
    pred = be.interact({"sequence": "synthetic", "scribbles": [[] for _ in range(T)]}, 0)
    assert (pred.labels == 0).all()
    assert pred.info["annotated_frames"] == []


def test_invalid_object_id_and_odd_input(video):
    frames, _ = video
    be = ClassicBackend()
    be.reset("synthetic", frames, 2)
    with pytest.raises(BackendError, match=r"object_id 3 on frame 5"):
        be.interact(scribbles(5, [stroke([(10, 10), (20, 20)], 3)]), 5)
    odd = scribbles(4, [{"path": [], "object_id": 1},
                        {"path": [[-0.05, 0.3], [0.2, 1.02]], "object_id": 1},
                        stroke([(66, 17), (67, 24)], 2)])
    pred = be.interact(odd, 4)
    assert np.isfinite(pred.probs).all()
    assert set(np.unique(pred.labels)) <= {0, 1, 2}
