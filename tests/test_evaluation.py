"""The fast evaluation path (ivosw_bench.evaluation) gives exactly what davisinteractive's own
functions give: the medial axis, the robot's scribbles, the ground truth, the service's J and F."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ivosw_bench import compat, evaluation

compat.apply()


def blobs(seed: int, h: int = 90, w: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 6))):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        m[y:y + int(rng.integers(2, 40)), x:x + int(rng.integers(2, 50))] = True
    m[rng.random((h, w)) < 0.02] ^= True
    return m


@pytest.mark.parametrize("seed", range(12))
def test_medial_axis_equals_scikit_image(seed):
    from skimage.morphology import medial_axis

    m = blobs(seed)
    np.testing.assert_array_equal(evaluation.medial_axis(m, rng=compat.ROBOT_SEED),
                                  medial_axis(m, rng=compat.ROBOT_SEED))


def _stock_robot_interact(monkeypatch, robot, *args, **kwargs):
    """The robot's scribble with davisinteractive's own functions (only the seeded medial axis)."""
    from davisinteractive.robot import interactive_robot
    from davisinteractive.robot.interactive_robot import InteractiveScribblesRobot
    from skimage.morphology import medial_axis

    with monkeypatch.context() as m:
        m.setattr(InteractiveScribblesRobot, "interact", InteractiveScribblesRobot.interact.__wrapped__)
        m.setattr(InteractiveScribblesRobot, "_generate_scribble_mask",
                  InteractiveScribblesRobot._generate_scribble_mask.__wrapped__)
        m.setattr(interactive_robot, "medial_axis", lambda im: medial_axis(im, rng=compat.ROBOT_SEED))
        return robot.interact(*args, **kwargs)


def _paths(scribble):
    return [[(s["object_id"], np.round(s["path"], 12).tolist()) for s in frame] for frame in scribble["scribbles"]]


def test_robot_scribbles_equal_davisinteractives(monkeypatch):
    from ivosw_bench.episode import make_robot

    rng = np.random.default_rng(0)
    gt = np.zeros((4, 120, 200), np.int64)
    gt[:, 20:90, 30:120] = 1
    gt[:, 60:110, 130:190] = 2
    pred = gt.copy()
    pred[0, 20:60, 30:80] = 0          # a missed part
    pred[1, 10:30, 100:160] = 2        # a false positive
    pred[2] = 0                        # everything missed
    pred[3, rng.random((120, 200)) < 0.2] = 1
    robot = make_robot()
    for frame in range(4):
        fast = robot.interact("s", pred.astype(np.uint8), gt, nb_objects=2, frame=frame)
        stock = _stock_robot_interact(monkeypatch, robot, "s", pred, gt, nb_objects=2, frame=frame)
        assert _paths(fast) == _paths(stock)
        assert not any(fast["scribbles"][f] for f in range(4) if f != frame)
        assert frame == 3 or fast["scribbles"][frame]  # (scattered noise may give no stroke at all)


@pytest.mark.realdata
def test_robot_equal_on_real_video(monkeypatch, davis16):
    from backends.classic import ClassicBackend
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.episode import make_robot

    ds = open_dataset(davis16, sequences=["dog-agility"], check=False)
    frames, gt = ds.frames("dog-agility"), ds.masks("dog-agility").astype(np.int64)
    scribble = json.loads((davis16 / "Scribbles/dog-agility/001.json").read_text())
    be = ClassicBackend()
    be.reset("dog-agility", frames, 1)
    pred = be.interact(scribble, next(i for i, s in enumerate(scribble["scribbles"]) if s)).labels
    robot = make_robot()
    for frame in (0, 12, 24):
        fast = robot.interact("dog-agility", pred, gt, nb_objects=1, frame=frame)
        stock = _stock_robot_interact(monkeypatch, robot, "dog-agility", pred, gt, nb_objects=1, frame=frame)
        assert _paths(fast) == _paths(stock)


def test_service_metrics_reuse_submitted_values_and_compute_once():
    from davisinteractive.evaluation import service

    gt = np.zeros((2, 30, 40), np.int64)
    gt[:, 5:20, 5:25] = 1
    pred = np.roll(gt, 2, axis=2).astype(np.uint8)
    j = service.batched_jaccard(gt, pred, average_over_objects=False, nb_objects=1)
    f = service.batched_f_measure(gt, pred, average_over_objects=False, nb_objects=1)
    rj = service.batched_jaccard.__wrapped__(gt, pred, average_over_objects=False, nb_objects=1)
    rf = service.batched_f_measure.__wrapped__(gt, pred, average_over_objects=False, nb_objects=1)
    np.testing.assert_allclose(j, rj, atol=1e-12)
    np.testing.assert_allclose(f, rf, atol=1e-12)
    given = (np.full((2, 1), 0.25), np.full((2, 1), 0.5))
    with evaluation.submission(pred, *given):
        assert service.batched_jaccard(gt, pred, average_over_objects=False, nb_objects=1).tolist() == [[0.25]] * 2
        assert service.batched_f_measure(gt, pred, nb_objects=1).tolist() == [0.5, 0.5]
    other = pred.copy()  # another array: computed, not taken from the submission
    with evaluation.submission(pred, *given):
        np.testing.assert_allclose(service.batched_jaccard(gt, other, nb_objects=1), rj.mean(axis=1))


def test_ground_truth_is_loaded_once_and_read_only(tiny_davis):
    from davisinteractive.dataset.davis import Davis

    from ivosw_bench.data.davis_layout import open_dataset, registered

    ds = open_dataset(tiny_davis)
    with registered(ds, ["one"]):
        d = Davis(davis_root=str(tiny_davis))
        a, b = d.load_annotations("one"), d.load_annotations("one")
        assert a is b and not a.flags.writeable and a.dtype == np.uint8
        np.testing.assert_array_equal(a, Davis.load_annotations.__wrapped__(d, "one"))
