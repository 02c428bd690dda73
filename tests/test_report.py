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


# ---- labels and grouping ----------------------------------------------------------------

def test_labels_minimal_and_disambiguated(runs):
    labs = rp.labels(runs)
    # same config: seeds are needed for the three random runs only
    assert sorted(labs) == ["linspace", "random (seed 0)", "random (seed 1)", "random (seed 2)",
                            "worst-oracle"]
    assert rp.label(runs[0]) == runs[0]["strategy"]


def test_labels_include_differing_config(tmp_path):
    a = rp.load_run(_write(tmp_path, _summary("linspace", 0, LINSPACE, backend="classic")))
    b = rp.load_run(_write(tmp_path, _summary("linspace", 0, LINSPACE, backend="stcn")))
    c = rp.load_run(_write(tmp_path, _summary("random", 0, LINSPACE[:3], backend="stcn")))
    assert rp.labels([a, b, c]) == ["linspace (classic, T=5)", "linspace (stcn, T=5)",
                                    "random (stcn, T=3)"]
    assert rp.label(b, [a, b, c]) == "linspace (stcn, T=5)"


def test_group_seeds_mean_std(runs):
    groups = rp.group_seeds(runs)
    assert [g.label for g in groups] == ["linspace", "random", "worst-oracle"]
    g = groups[1]
    assert g.n_seeds == 3 and g.seeds == [0, 1, 2]
    aucs = [_round_auc(c) for c in RANDOM_CURVES.values()]
    assert g.mean("round_auc") == pytest.approx(np.mean(aucs))
    assert g.std("round_auc") == pytest.approx(np.std(aucs, ddof=1))
    curves = np.array(list(RANDOM_CURVES.values()))
    np.testing.assert_allclose(g.per_round_mean, curves.mean(0))
    np.testing.assert_allclose(g.per_round_std, curves.std(0, ddof=1))
    np.testing.assert_allclose(g.per_round_min, curves.min(0))
    np.testing.assert_allclose(g.per_round_max, curves.max(0))
    assert g.mean("sec_total") == pytest.approx(3.0)
    assert groups[0].std("round_auc") is None and groups[0].per_round_std is None


def test_summary_rows(runs):
    rows = rp.summary_rows(runs)
    for col in ("label", "strategy", "backend", "dataset", "setting", "rounds", "n_samples",
                "n_seeds", "round_auc", "round_auc_std", "time_auc", "jf_at_60s", "jf_round1",
                "final_jf", "s_per_round", "backend_s", "quality_s", "strategy_s", "eval_s"):
        assert col in rows[0]
    aucs = [r["round_auc"] for r in rows]
    assert aucs == sorted(aucs, reverse=True)
    byl = {r["label"]: r for r in rows}
    assert byl["random"]["n_seeds"] == 3
    assert byl["random"]["jf_round1"] == pytest.approx(0.50)
    assert byl["random"]["final_jf"] == pytest.approx(np.mean([0.70, 0.71, 0.69]))
    assert byl["random"]["time_auc"] == pytest.approx(0.51)
    assert byl["linspace"]["round_auc_std"] is None and byl["linspace"]["n_seeds"] == 1
    assert byl["linspace"]["round_auc"] == pytest.approx(_round_auc(LINSPACE))


def test_summary_rows_ungrouped(runs):
    rows = rp.summary_rows(runs, group=False)
    assert len(rows) == 5 and all(r["n_seeds"] == 1 for r in rows)
    assert {"random (seed 0)", "random (seed 1)", "random (seed 2)"} <= {r["label"] for r in rows}


def test_incomplete_run_with_null_metrics(tmp_path):
    s = _summary("random", 3, RANDOM_CURVES[0], complete=False)
    s["metrics"]["time_auc"] = None
    s["metrics"]["jf_at_60s"] = None
    empty = _summary("linspace", 0, LINSPACE, complete=False)
    empty["metrics"].update(round_auc=None, final_jf=None, per_round_jf=[], time_auc=None,
                            jf_at_60s=None)
    empty["per_sample"] = []
    runs = [rp.load_run(_write(tmp_path, s)), rp.load_run(_write(tmp_path, empty))]
    rows = rp.summary_rows(runs)
    assert rows[0]["label"] == "random" and rows[0]["time_auc"] is None
    assert rows[1]["round_auc"] is None and rows[1]["complete"] is False
    paths = rp.write_report(runs, tmp_path / "out")
    assert "random *" in paths["md"].read_text()


# ---- rich table -------------------------------------------------------------------------

def test_rich_table_renders(runs):
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(rp.rich_table(runs, title="Demo"))
    text = console.export_text()
    for lab in ("linspace", "random", "worst-oracle", "Demo", "Round-AUC", "Time-AUC"):
        assert lab in text
    aucs = [_round_auc(c) for c in RANDOM_CURVES.values()]
    assert f"{np.mean(aucs):.2f} ± {np.std(aucs, ddof=1):.2f}" in text
    assert "75.0" in text  # linspace final J&F in %


# ---- files ------------------------------------------------------------------------------

def test_write_report_files(runs, tmp_path):
    out = tmp_path / "deep" / "report"
    paths = rp.write_report(runs, out, title="Synthetic demo")
    assert set(paths) == {"md", "csv", "per_round", "per_sequence", "png", "svg"}
    for p in paths.values():
        assert p.parent == out and p.is_file() and p.stat().st_size > 0

    md = paths["md"].read_text()
    assert md.startswith("# Synthetic demo")
    for lab in ("linspace", "random", "worst-oracle"):
        assert f"| {lab} |" in md
    assert "![Per-round J&F](curve.png)" in md and "Round-AUC" in md and "R5" in md

    df = pd.read_csv(paths["csv"])
    assert list(df.columns[:19]) == list(rp.summary_columns[:19])
    assert list(df["label"]) == ["linspace", "random", "worst-oracle"]
    assert df["round_auc"].is_monotonic_decreasing
    aucs = [_round_auc(c) for c in RANDOM_CURVES.values()]
    rnd = df.set_index("label").loc["random"]
    assert rnd["round_auc"] == pytest.approx(np.mean(aucs))
    assert rnd["round_auc_std"] == pytest.approx(np.std(aucs, ddof=1))
    assert math.isnan(df.set_index("label").loc["linspace", "round_auc_std"])

    pr = pd.read_csv(paths["per_round"])
    assert {"label", "round", "jf", "jf_std"} <= set(pr.columns)
    assert len(pr) == 3 * T
    r = pr[pr["label"] == "random"].sort_values("round")
    curves = np.array(list(RANDOM_CURVES.values()))
    np.testing.assert_allclose(r["jf"], curves.mean(0))
    np.testing.assert_allclose(r["jf_std"], curves.std(0, ddof=1))
    assert pr[pr["label"] == "linspace"]["jf_std"].isna().all()

    ps = pd.read_csv(paths["per_sequence"])
    assert {"label", "seed", "sequence", "scribble_idx", "round_auc", "final_jf",
            *(f"jf_round{t}" for t in range(1, T + 1))} <= set(ps.columns)
    assert len(ps) == 5 * 2
    assert sorted(ps[ps["label"] == "random"]["seed"].unique()) == [0, 1, 2]

    import matplotlib.image as mpimg

    img = mpimg.imread(paths["png"])
    assert img.shape[:2] == (750, 1200)
    assert paths["svg"].read_text().lstrip().startswith("<?xml")


def test_write_report_deterministic(runs, tmp_path):
    a = rp.write_report(runs, tmp_path / "a")
    b = rp.write_report(list(reversed(runs)), tmp_path / "b")
    for k in ("md", "csv", "per_round", "per_sequence", "svg", "png"):
        assert a[k].read_bytes() == b[k].read_bytes(), k


def test_write_report_single_run_and_mixed_lengths(tmp_path):
    one = rp.load_run(_write(tmp_path, _summary("linspace", 0, LINSPACE)))
    paths = rp.write_report([one], tmp_path / "one")
    assert len(pd.read_csv(paths["per_round"])) == T

    short = rp.load_run(_write(tmp_path, _summary("random", 0, [0.4, 0.5, 0.6])))
    paths = rp.write_report([one, short], tmp_path / "mixed")
    md = paths["md"].read_text()
    assert "linspace (T=5)" in md and "random (T=3)" in md
    ps = pd.read_csv(paths["per_sequence"])
    assert ps[ps["label"] == "random (T=3)"][["jf_round4", "jf_round5"]].isna().all().all()
    assert paths["png"].stat().st_size > 0
