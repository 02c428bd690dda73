"""davisinteractive's time-AUC and J&F@60s, recomputed from a run's ``report.csv`` for any weighting
of its samples, so that the leaderboard can bootstrap them over samples.

The formula is davisinteractive 1.0.4's ``EvaluationService.summarize_report`` (local service,
``max_i = T``, no ``max_t``), written for sample weights ``w`` (1 for every sample gives its value):

- per interaction i: J&F_i = sum_s w_s sum_objects JF_{s,o,i} / sum_s w_s K_s (object-weighted mean;
  JF_{s,o,i} is the mean over frames), time_i = sum_{j<=i} (sum_s w_s timing_{s,j} / sum_s w_s);
- curve: time = [0, time_1..time_T, timeout], J&F = [0, J&F_1..J&F_T, J&F_T] with
  timeout = T x the largest per-interaction timing of a sample with w_s > 0;
- time-AUC = trapezoid(J&F, time) / max(time); J&F@60s = J&F interpolated at 60 s.

Unlike round-AUC, these are not means of per-sample values, so their bootstrap resamples the
samples and recomputes the whole statistic.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .report import ReportError
from .tables import read_table

REPORT_NAME = "report.csv"
TIME_THRESHOLD_S = 60.0
_COLUMNS = ("sequence", "scribble_idx", "interaction", "object_id", "j_and_f", "timing")


@dataclass(frozen=True)
class TimeTable:
    """Per sample (rows, in ``keys`` order) and interaction 1..T (columns) of one run."""

    keys: tuple[tuple[str, int], ...]
    jf_sum: np.ndarray     # [n, T] sum over objects of the per-object J&F (mean over frames)
    n_objects: np.ndarray  # [n]
    timing: np.ndarray     # [n, T] seconds davisinteractive counted for the interaction


def read_time_table(run_dir: Path, rounds: int, keys: list[tuple[str, int]]) -> TimeTable | None:
    """The :class:`TimeTable` of ``keys`` from ``run_dir/report.csv``; None without the file.
    Raises ReportError (naming the file) when it is unreadable or lacks a sample or interaction."""
    path = Path(run_dir) / REPORT_NAME
    if not path.is_file():
        return None
    return _table(read_table(path, _COLUMNS), rounds, keys, path)


def _table(df: pd.DataFrame, rounds: int, keys: list[tuple[str, int]], path: Path) -> TimeTable:
    df = df[list(_COLUMNS)]
    per_obj = df.groupby(["sequence", "scribble_idx", "interaction", "object_id"], sort=True)[
        ["j_and_f", "timing"]].mean()
    per_int = per_obj.groupby(level=[0, 1, 2]).agg(jf_sum=("j_and_f", "sum"), n_obj=("j_and_f", "size"),
                                                   timing=("timing", "mean"))
    n, T = len(keys), int(rounds)
    jf_sum, timing, n_objects = np.zeros((n, T)), np.zeros((n, T)), np.zeros(n)
    for s, (seq, idx) in enumerate(keys):
        for i in range(1, T + 1):
            try:
                row = per_int.loc[(seq, idx, i)]
            except KeyError:
                raise ReportError(f"{path}: no rows for {seq}:{idx} interaction {i}") from None
            jf_sum[s, i - 1], timing[s, i - 1] = row["jf_sum"], row["timing"]
            n_objects[s] = row["n_obj"]
    return TimeTable(tuple(keys), jf_sum, n_objects, timing)


def interp_rows(x: float, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x, xp[r], fp[r])`` for every row r at once (rows of ``xp`` non-decreasing)."""
    rows = np.arange(xp.shape[0])
    k = np.clip((xp <= x).sum(axis=1) - 1, 0, xp.shape[1] - 2)
    x0, x1, y0, y1 = xp[rows, k], xp[rows, k + 1], fp[rows, k], fp[rows, k + 1]
    span = x1 - x0
    frac = np.divide(x - x0, span, out=np.ones_like(span), where=span > 0)
    out = y0 + np.clip(frac, 0.0, 1.0) * (y1 - y0)
    out = np.where(x >= xp[:, -1], fp[:, -1], out)
    return np.where(x <= xp[:, 0], fp[:, 0], out)


def time_metrics(table: TimeTable, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time-AUC [B], J&F@60s [B]) as fractions, for sample weights ``[B, n]`` (or ``[n]``)."""
    w = np.atleast_2d(np.asarray(weights, np.float64))
    T = table.jf_sum.shape[1]
    jf = (w @ table.jf_sum) / (w @ table.n_objects)[:, None]
    time = np.cumsum((w @ table.timing) / w.sum(axis=1, keepdims=True), axis=1)
    largest = np.where(w > 0, table.timing.max(axis=1)[None, :], -np.inf).max(axis=1)
    zeros = np.zeros((w.shape[0], 1))
    time = np.hstack([zeros, time, (T * largest)[:, None]])
    jf = np.hstack([zeros, jf, jf[:, -1:]])
    top = time.max(axis=1)
    area = np.trapezoid(jf, x=time, axis=1)
    auc = np.divide(area, top, out=np.zeros_like(area), where=top > 0)
    return auc, interp_rows(TIME_THRESHOLD_S, time, jf)


def resample_weights(indices: np.ndarray, n: int) -> np.ndarray:
    """Bootstrap indices ``[B, n]`` as counts per sample ``[B, n]`` (the weights of a resample)."""
    counts = np.zeros((indices.shape[0], n))
    np.add.at(counts, (np.repeat(np.arange(indices.shape[0]), indices.shape[1]), indices.ravel()), 1.0)
    return counts
