"""Metrics of a run: the paper's round-AUC and davisinteractive's time-AUC and J&F@60s.

- round-AUC (the seed paper's): ``trapezoid([0, JF_1, ..., JF_T], dx=1) / T * 100``.
- time-AUC and J&F@60s: davisinteractive's ``summarize_report`` on the run's raw report (area under
  J&F vs cumulative time, normalised by its global timeout; J&F interpolated at 60 s).
- per-sample J&F of a round = mean over objects of the mean over frames (davisinteractive's
  weighting within a sample); the per-round curve is the mean over samples.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

STAGES = ("backend", "quality", "strategy", "eval")


def round_auc(per_round_jf) -> float:
    jf = np.concatenate([[0.0], np.asarray(per_round_jf, np.float64)])
    if jf.size < 2:
        return float("nan")
    return float(np.trapezoid(jf, dx=1.0) / (jf.size - 1) * 100.0)


def round_scores(report_rows: pd.DataFrame) -> tuple[float, float, float]:
    """(J, F, J&F) of one round of one sample from its davisinteractive report rows."""
    per_obj = report_rows.groupby("object_id")[["jaccard", "contour", "j_and_f"]].mean()
    j, f, jf = per_obj.mean().to_numpy(np.float64)
    return float(j), float(f), float(jf)


def davis_summary(report: pd.DataFrame, dataset, sequences: list[str], rounds: int) -> dict:
    """davisinteractive's own summary (time-AUC, J&F@60s, curve) of a complete report."""
    import ivosw_bench.compat as compat

    from ..data.davis_layout import registered

    compat.apply()
    from davisinteractive.evaluation.service import EvaluationService

    with registered(dataset, sequences):
        service = EvaluationService("train", davis_root=str(dataset.root), max_i=rounds)
        return service.summarize_report(report)


def summarize(config: dict, rounds_df: pd.DataFrame, report: pd.DataFrame | None, dataset,
              sequences: list[str], complete: bool) -> dict:
    """summary.json of a run from its rounds table (and raw report for the time metrics)."""
    T = int(config["rounds"])
    per_sample = []
    for (seq, idx), g in rounds_df.groupby(["sequence", "scribble_idx"], sort=False):
        g = g.sort_values("round")
        if len(g) < T:
            continue
        jf = g["jf"].to_list()[:T]
        per_sample.append({
            "sequence": seq, "scribble_idx": int(idx), "n_frames": int(g["n_frames"].iloc[0]),
            "n_objects": int(g["n_objects"].iloc[0]), "per_round_jf": jf, "round_auc": round_auc(jf),
            "final_jf": jf[-1], "annotated_frames": [int(a) for a in g["annotated_frame"].to_list()[:T]],
            "recommended_frames": [int(a) for a in g["recommended_frame"].to_list()[:T]],
        })
    metrics: dict = {"round_auc": None, "time_auc": None, "jf_at_60s": None, "final_jf": None,
                     "per_round_jf": [], "seconds_per_round": {}}
    if per_sample:
        curve = np.mean([s["per_round_jf"] for s in per_sample], axis=0)
        metrics.update(round_auc=round_auc(curve), final_jf=float(curve[-1]),
                       per_round_jf=[float(v) for v in curve])
    if len(rounds_df):
        secs = {s: float(rounds_df[f"{s}_s"].mean()) for s in STAGES}
        secs["total"] = float(sum(secs.values()))
        metrics["seconds_per_round"] = secs
    if complete and report is not None and len(report):
        davis = davis_summary(report, dataset, sequences, T)
        metrics["time_auc"] = float(davis["auc"])
        metric_name = next(k for k in davis["metric_at_threshold"] if k != "threshold")
        metrics["jf_at_60s"] = float(davis["metric_at_threshold"][metric_name])
        metrics["davis_curve"] = {"time": davis["curve"]["time"], "jf": davis["curve"][metric_name]}
    return {
        "run_id": config["run_id"], "strategy": config["strategy"], "backend": config["backend"],
        "dataset": config["dataset_name"], "setting": config["setting"], "rounds": T,
        "seed": config["seed"], "n_samples": len(per_sample), "n_samples_total": config["n_samples"],
        "complete": bool(complete), "metrics": metrics, "per_sample": per_sample,
    }
