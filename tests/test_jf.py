"""The fast J and F equal davisinteractive's own ``batched_jaccard`` / ``batched_f_measure`` (<= 1e-9)
on random, empty, full, thin, multi-object and odd-sized masks, and on real DAVIS masks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivosw_bench.jf import _disk, bound_pixels, per_frame_jf, reference_per_frame_jf, sample_jf


def assert_same(gt, labels, k):
    j, f = per_frame_jf(gt, labels, k)
    rj, rf = reference_per_frame_jf(gt, labels, k)
    assert j.shape == rj.shape == (len(gt), k)
    np.testing.assert_allclose(j, rj, rtol=0, atol=1e-9)
    np.testing.assert_allclose(f, rf, rtol=0, atol=1e-9)


@st.composite
def masks(draw):
    """(gt, labels, K): blobs, thin lines, empties, full frames, several objects, odd sizes."""
    t = draw(st.integers(1, 3))
    h = draw(st.integers(1, 70))
    w = draw(st.integers(1, 90))
    k = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["noise", "blobs", "thin", "empty", "full", "mixed"]))
    rng = np.random.default_rng(seed)

    def one():
        if kind == "noise":
            return rng.integers(0, k + 1, (t, h, w))
        if kind == "empty":
            return np.zeros((t, h, w), np.int64)
        if kind == "full":
            return np.full((t, h, w), int(rng.integers(1, k + 1)))
        out = np.zeros((t, h, w), np.int64)
        for _ in range(int(rng.integers(0, 5))):
            obj = int(rng.integers(1, k + 1))
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            if kind == "thin" or (kind == "mixed" and rng.random() < 0.5):
                if rng.random() < 0.5:
                    out[:, y, x:x + int(rng.integers(1, w + 1))] = obj
                else:
                    out[:, y:y + int(rng.integers(1, h + 1)), x] = obj
            else:
                out[:, y:y + int(rng.integers(1, h + 1)), x:x + int(rng.integers(1, w + 1))] = obj
        if kind == "mixed":
            out[rng.random((t, h, w)) < 0.05] = 0
        return out

    gt, labels = one(), one()
    if draw(st.booleans()):  # labels near the ground truth: boundaries within the tolerance matter
        labels = gt.copy()
        flip = rng.random(gt.shape) < 0.03
        labels[flip] = rng.integers(0, k + 1, int(flip.sum()))
    return gt, labels, k


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks())
def test_equal_to_davisinteractive_on_generated_masks(case):
    gt, labels, k = case
    assert_same(gt, labels, k)


def test_large_frames_near_the_tolerance():
    rng = np.random.default_rng(0)
    gt = np.zeros((3, 480, 854), np.uint8)
    gt[:, 100:300, 200:500] = 1
    gt[:, 350:420, 600:800] = 2
    labels = gt.copy()
    for t, shift in enumerate((7, 8, 9)):  # around ceil(0.008 * diagonal) = 8 px
        labels[t] = np.roll(gt[t], shift, axis=1)
    labels[2, rng.random((480, 854)) < 0.001] = 2
    assert bound_pixels(480, 854) == 8
    assert_same(gt, labels, 2)


def test_disk_is_davisinteractives_kernel():
    from skimage.morphology import disk

    np.testing.assert_array_equal(_disk(8), disk(np.ceil(0.008 * np.linalg.norm((480, 854)))).astype(np.uint8))


@pytest.mark.realdata
def test_equal_on_real_davis_masks_and_classic_predictions(davis16):
    import json

    from backends.classic import ClassicBackend
    from ivosw_bench.data.davis_layout import open_dataset

    ds = open_dataset(davis16, sequences=["dog-agility"], check=False)
    frames, gt = ds.frames("dog-agility"), ds.masks("dog-agility")
    scribble = json.loads((davis16 / "Scribbles/dog-agility/001.json").read_text())
    be = ClassicBackend()
    be.reset("dog-agility", frames, 1)
    pred = be.interact(scribble, next(i for i, s in enumerate(scribble["scribbles"]) if s))
    assert_same(gt, pred.labels, 1)
    assert_same(gt, np.roll(gt, 3, axis=2), 1)  # near-perfect masks: boundary matches matter
    j, f = per_frame_jf(gt, pred.labels, 1)
    assert 0 < sample_jf(j, f) < 1


def test_per_frame_jf_threads_equal_serial_and_survive_fork():
    import multiprocessing as mp

    from ivosw_bench import jf as jfmod

    rng = np.random.default_rng(3)
    gt = (rng.random((20, 40, 50)) > 0.6).astype(np.uint8) * rng.integers(1, 3, (20, 40, 50)).astype(np.uint8)
    pred = np.roll(gt, 2, axis=1)
    threaded = jfmod.per_frame_jf(gt, pred, 2)  # 20 frames: the thread pool
    serial = [jfmod._frame_jf(gt[t] == k, pred[t] == k, jfmod.bound_pixels(40, 50), jfmod._disk(jfmod.bound_pixels(40, 50)))
              for t in range(20) for k in (1, 2)]
    np.testing.assert_array_equal(np.stack(threaded, -1).reshape(-1, 2), np.array(serial))
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:  # a forked worker builds its own pool instead of waiting on dead threads
        child = pool.apply(jfmod.per_frame_jf, (gt, pred, 2))
    np.testing.assert_array_equal(child[0], threaded[0])
    np.testing.assert_array_equal(child[1], threaded[1])
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)  # a worker's budget (executors.worker_threads(1)): serial, same values
    try:
        assert jfmod._pool() is None
        serial_run = jfmod.per_frame_jf(gt, pred, 2)
    finally:
        cv2.setNumThreads(before)
    np.testing.assert_array_equal(serial_run[0], threaded[0])
    np.testing.assert_array_equal(serial_run[1], threaded[1])
