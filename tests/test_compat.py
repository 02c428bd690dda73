"""Each compatibility shim, proven against davisinteractive's real code paths."""
from __future__ import annotations

import numpy as np
import pytest

import ivosw_bench.compat as compat
from ivosw_bench.data.davis_layout import open_dataset, registered

compat.apply()


def test_numpy_aliases_and_bool_untouched():
    assert np.int is int and np.float is float
    assert np.trapz is np.trapezoid or np.trapz(np.ones(3)) == 2.0
    assert np.bool is np.bool_  # numpy 2's np.bool must not be overridden


def test_networkx_alias():
    import networkx as nx

    assert nx.from_scipy_sparse_matrix is not None
    g = nx.from_scipy_sparse_matrix(__import__("scipy.sparse").sparse.eye(3, format="csr"))
    assert g.number_of_nodes() == 3


def test_apply_is_idempotent():
    from davisinteractive.evaluation.service import EvaluationService

    before = EvaluationService.summarize_report
    compat.apply()
    compat._APPLIED = False
    compat.apply()
    assert EvaluationService.summarize_report is before


def test_robot_is_deterministic(tiny_davis):
    """medial_axis ties are broken by a fixed random state: the same input gives the same scribble."""
    from davisinteractive.robot import InteractiveScribblesRobot

    ds = open_dataset(tiny_davis)
    gt = ds.masks("two").astype(np.int64)
    pred = np.zeros_like(gt)
    outs = [InteractiveScribblesRobot().interact("two", pred, gt, nb_objects=2, frame=1) for _ in range(3)]
    assert outs[0]["scribbles"][1], "robot drew nothing"
    strokes = [[(s["object_id"], s["path"]) for f in o["scribbles"] for s in f] for o in outs]
    assert strokes[0] == strokes[1] == strokes[2]  # times are wall-clock; paths and ids must match


def test_full_session_global_summary(tiny_davis):
    """A local session over 2 samples x 3 rounds: robot (networkx), metrics (np.int), report and
    summarize_report (pandas, np.trapz) all run, and the global summary equals a hand computation."""
    from davisinteractive.session import DavisInteractiveSession

    ds = open_dataset(tiny_davis)
    seqs = ds.select()
    rounds = 3
    expected_curve = []
    with registered(ds, seqs), DavisInteractiveSession(
            host="localhost", davis_root=str(tiny_davis), subset="train", max_nb_interactions=rounds,
            report_save_dir=str(tiny_davis / "reports")) as sess:
        per_round = {}
        while sess.next():
            seq, scribbles, _ = sess.get_scribbles(only_last=True)
            gt = ds.masks(seq).astype(np.int64)
            t = sess.interaction_nb + 1
            # round t: the first t frames are exact, the others empty -> J = F = 1 or 0 per frame
            pred = gt.copy()
            pred[t:] = 0
            sess.submit_masks(pred, next_scribble_frame_candidates=[len(gt) - 1])
            # davisinteractive averages over (sample, object) pairs: one entry per object
            per_round.setdefault(t, []).extend([t / len(gt)] * int(gt.max()))
            assert scribbles["sequence"] == seq
        summary = sess.get_global_summary()
        report = sess.get_report()
    expected_curve = [0.0] + [float(np.mean(per_round[t])) for t in range(1, rounds + 1)]
    curve = summary["curve"]["J_AND_F"]
    # davisinteractive appends the last value once more at the global timeout
    assert curve[:-1] == pytest.approx(expected_curve)
    assert curve[-1] == pytest.approx(expected_curve[-1])
    time = np.asarray(summary["curve"]["time"])
    assert np.all(np.diff(time) >= 0)
    assert summary["auc"] == pytest.approx(np.trapezoid(curve, x=time) / time.max())
    assert 0 <= summary["metric_at_threshold"]["J_AND_F"] <= 1
    # the report holds one row per (sample, round, object, frame)
    assert len(report) == rounds * (6 * 1 + 7 * 2)


def test_clean_report_casts_object_columns():
    import pandas as pd

    df = pd.DataFrame({"session_id": ["a"], "sequence": ["s"], "scribble_idx": [1], "interaction": [1],
                       "object_id": [1], "frame": [0], "jaccard": [0.5], "contour": [0.5],
                       "j_and_f": [0.5], "timing": [1.0]}).astype(object)
    out = compat.clean_report(df)
    assert "session_id" not in out
    assert out["jaccard"].dtype == np.float64 and out["interaction"].dtype.kind == "i"
