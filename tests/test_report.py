"""Tests of ivosw_bench.results.report on fake run folders (fast, no GPU, no data)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ivosw_bench.results import report as rp

T = 5


def _round_auc(curve):
    jf = np.concatenate([[0.0], np.asarray(curve, float)])
    return float(np.trapezoid(jf, dx=1.0) / (jf.size - 1) * 100.0)


def _summary(strategy, seed, curve, *, backend="classic", dataset="synthetic", setting="oracle",
             complete=True, n_samples=2, secs_total=2.0):
    rounds = len(curve)
    samples = []
    for k in range(n_samples):
        jf = [min(1.0, v + 0.01 * (k - 0.5)) for v in curve]
        samples.append({"sequence": f"synth-{k:03d}", "scribble_idx": 1, "n_frames": 30,
                        "n_objects": 2, "per_round_jf": jf, "round_auc": _round_auc(jf),
                        "final_jf": jf[-1], "annotated_frames": list(range(rounds))})
    return {
        "run_id": f"20261125-151200-{strategy}-{backend}-{dataset}-s{seed}",
        "strategy": strategy, "backend": backend, "dataset": dataset, "setting": setting,
        "rounds": rounds, "seed": seed, "n_samples": n_samples, "complete": complete,
        "metrics": {
            "round_auc": _round_auc(curve), "time_auc": 0.5 + 0.01 * seed,
            "jf_at_60s": 0.6, "final_jf": curve[-1], "per_round_jf": list(curve),
            "seconds_per_round": {"backend": 1.0, "quality": 0.25, "strategy": 0.001,
                                  "eval": secs_total - 1.251, "total": secs_total},
        },
        "per_sample": samples,
    }


def _write(tmp_path, summary, name=None):
    d = tmp_path / (name or summary["run_id"])
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(summary))
    return d


RANDOM_CURVES = {
    0: [0.50, 0.60, 0.64, 0.66, 0.70],
    1: [0.48, 0.58, 0.66, 0.69, 0.71],
    2: [0.52, 0.61, 0.62, 0.68, 0.69],
}
LINSPACE = [0.55, 0.66, 0.70, 0.73, 0.75]
WORST = [0.45, 0.50, 0.55, 0.57, 0.58]


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "runs"
    for seed, curve in RANDOM_CURVES.items():
        _write(root, _summary("random", seed, curve, secs_total=2.0 + seed))
    _write(root, _summary("linspace", 0, LINSPACE))
    _write(root, _summary("worst-oracle", 0, WORST))
    return root


@pytest.fixture
def runs(runs_dir):
    return rp.load_runs([runs_dir])


# ---- loading --------------------------------------------------------------------------

def test_load_run_folder_and_file(tmp_path):
    d = _write(tmp_path, _summary("linspace", 0, LINSPACE))
    a = rp.load_run(d)
    b = rp.load_run(d / "summary.json")
    assert a["path"] == d and b["path"] == d
    assert a["strategy"] == "linspace" and a["metrics"]["per_round_jf"] == LINSPACE


def test_load_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(rp.ReportError) as ei:
        rp.load_run(missing)
    assert str(missing) in str(ei.value) and "\n" not in str(ei.value)


def test_load_folder_without_summary(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    with pytest.raises(rp.ReportError, match="summary.json"):
        rp.load_run(d)


def test_load_broken_json(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "summary.json").write_text('{"run_id": "x",\n  "strategy": ')
    with pytest.raises(rp.ReportError) as ei:
        rp.load_run(d)
    msg = str(ei.value)
    assert str(d / "summary.json") in msg and "JSON" in msg and "\n" not in msg
    assert isinstance(ei.value, ValueError)


def test_load_missing_metrics(tmp_path):
    s = _summary("linspace", 0, LINSPACE)
    del s["metrics"]
    d = _write(tmp_path, s)
    with pytest.raises(rp.ReportError) as ei:
        rp.load_run(d)
    assert str(d / "summary.json") in str(ei.value) and "metrics" in str(ei.value)


def test_load_missing_metric_key(tmp_path):
    s = _summary("linspace", 0, LINSPACE)
    del s["metrics"]["per_round_jf"]
    d = _write(tmp_path, s)
    with pytest.raises(rp.ReportError, match="metrics.per_round_jf"):
        rp.load_run(d)


def test_load_runs_root_without_runs(tmp_path):
    with pytest.raises(rp.ReportError, match="no summary.json"):
        rp.load_runs([tmp_path])


# ---- loading: unfinished runs and samples -------------------------------------------------

def test_load_unfinished_run_folder(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"run_id": "x", "strategy": "random"}))
    with pytest.raises(rp.ReportError, match="unfinished run"):
        rp.load_run(d)
    with pytest.raises(rp.ReportError, match="unfinished run"):
        rp.load_runs([tmp_path])  # a root holding an unfinished run


def test_load_sample_without_key(tmp_path):
    s = _summary("linspace", 0, LINSPACE)
    del s["per_sample"][1]["scribble_idx"]
    with pytest.raises(rp.ReportError, match=r"per_sample\[1\]"):
        rp.load_run(_write(tmp_path, s))


def test_load_broken_config(tmp_path):
    d = _write(tmp_path, _summary("linspace", 0, LINSPACE))
    (d / "config.json").write_text("{")
    with pytest.raises(rp.ReportError, match="config.json"):
        rp.load_run(d)


# ---- the report of a set of runs (a leaderboard) ----------------------------------------------

def test_rich_table_renders(runs):
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(rp.rich_table(runs, title="Demo", n_boot=300))
    text = console.export_text()
    for lab in ("linspace", "random", "worst-oracle", "Demo", "Round-AUC", "Time-AUC", "0-2", "ref"):
        assert lab in text
    assert f"{_round_auc(LINSPACE):.2f}" in text


def test_write_report_files(runs, tmp_path):
    out = tmp_path / "deep" / "report"
    paths = rp.write_report(runs, out, title="Synthetic demo", n_boot=300)
    assert set(paths) == set(rp.REPORT_FILES)
    for k, p in paths.items():
        assert p == out / rp.REPORT_FILES[k] and p.stat().st_size > 0
    md = paths["md"].read_text()
    assert md.startswith("# Synthetic demo")
    assert "![Per-round J&F with 95% CI bands](curve.png)" in md and "R5" in md
    df = pd.read_csv(paths["csv"])
    assert list(df["label"]) == ["linspace", "random", "worst-oracle"]
    assert df["round_auc"].is_monotonic_decreasing
    aucs = [_round_auc(c) for c in RANDOM_CURVES.values()]
    rnd = df.set_index("label").loc["random"]
    assert rnd["round_auc"] == pytest.approx(np.mean(aucs))
    assert rnd["round_auc_seed_std"] == pytest.approx(np.std(aucs, ddof=1))
    assert rnd["time_auc"] == pytest.approx(0.51)  # no report.csv: the summaries' mean, no CI
    assert math.isnan(rnd["time_auc_low"])

    import matplotlib.image as mpimg

    img = mpimg.imread(paths["png"])
    assert img.shape[:2] == (750, 1200)
    assert paths["svg"].read_text().lstrip().startswith("<?xml")


def test_write_report_refuses_unfinished_run(tmp_path):
    s = _summary("random", 3, RANDOM_CURVES[0], complete=False)
    done = _summary("linspace", 0, LINSPACE)
    runs = [rp.load_run(_write(tmp_path, s)), rp.load_run(_write(tmp_path, done))]
    from ivosw_bench.errors import LeaderboardError

    with pytest.raises(LeaderboardError, match="unfinished"):
        rp.write_report(runs, tmp_path / "out")
    paths = rp.write_report(runs, tmp_path / "out", intersect=True, n_boot=200)
    assert "random" in paths["md"].read_text()
