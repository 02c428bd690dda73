"""The hosted leaderboard: finished sessions ranked per (dataset, T), with the statistics of
``ivosw-bench leaderboard`` (:mod:`ivosw_bench.results.stats`, :mod:`ivosw_bench.results.time_auc`).

A session is one entry. Its per-sample J&F after each interaction is davisinteractive's (mean over
objects of the mean over frames), round-AUC is the paper's (``results.metrics.round_auc``), and
time-AUC and J&F@60s are the session's own davisinteractive summary (what ``finish`` returned).
As in the CLI leaderboard: every number carries a 95% percentile-bootstrap CI over samples (time-AUC
and J&F@60s recomputed per resample from the report rows); every entry is compared with the
reference, here the entry ranked first by round-AUC, on the same samples (paired bootstrap CI of the
difference, sign-flip permutation p-value, wins/ties/losses); resampling is seeded, so the same
sessions give the same page. Entries are ranked by each of round-AUC, time-AUC and J&F@60s. Only
sessions that finished every sample are ranked; the others are listed, unranked, with the reason.
"""
from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..results.leaderboard import SMALL_N
from ..results.metrics import round_auc
from ..results.stats import bootstrap_ci, bootstrap_indices, paired_comparison, percentile_interval
from ..results.time_auc import _table as time_table  # the CLI leaderboard's own report -> table step
from ..results.time_auc import resample_weights, time_metrics
from . import db as store

RANKED_BY = ("round_auc", "time_auc", "jf_at_60s")


@dataclass(frozen=True)
class BoardOptions:
    n_boot: int = 10000
    seed: int = 0
    level: float = 0.95


def _iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")


def _estimate(mean, low=None, high=None) -> dict:
    return {"mean": None if mean is None else float(mean), "low": None if low is None else float(low),
            "high": None if high is None else float(high)}


def per_sample_jf(report: pd.DataFrame) -> dict[tuple[str, int], list[float]]:
    """{(sequence, scribble_idx): [J&F after interaction 1, 2, ...]} of a session's report."""
    per_obj = report.groupby(["sequence", "scribble_idx", "interaction", "object_id"])["j_and_f"].mean()
    per_int = per_obj.groupby(level=[0, 1, 2]).mean()
    out: dict[tuple[str, int], list[float]] = {}
    for (seq, idx, _), value in per_int.sort_index().items():
        out.setdefault((str(seq), int(idx)), []).append(float(value))
    return out


def _entry(sess: store.Session, user: str, report: pd.DataFrame, curves: dict, keys: list, opts: BoardOptions) -> dict:
    T = sess.max_i
    auc = np.array([round_auc(curves[k]) for k in keys])
    final = np.array([curves[k][-1] for k in keys])
    table = time_table(report, T, keys, f"session {sess.key[:8]}")
    weights = resample_weights(bootstrap_indices(len(keys), opts.n_boot, opts.seed), len(keys))
    auc_b, jf_b = time_metrics(table, weights)
    summary = sess.summary or {}
    threshold = summary.get("metric_at_threshold") or {}
    metric = next((v for k, v in threshold.items() if k != "threshold"), None)
    return {
        "label": f"{user} #{sess.key[:8]}", "user": user, "session": sess.key[:8], "finished": _iso(sess.finished),
        "round_auc": _estimate(*bootstrap_ci(auc, opts.n_boot, opts.seed, opts.level)),
        "final_jf": _estimate(*bootstrap_ci(final, opts.n_boot, opts.seed, opts.level)),
        "time_auc": _estimate(summary.get("auc"), *percentile_interval(auc_b, opts.level)),
        "jf_at_60s": _estimate(metric, *percentile_interval(jf_b, opts.level)),
        "per_round_jf": [_estimate(*bootstrap_ci([curves[k][t] for k in keys], opts.n_boot, opts.seed, opts.level))
                         for t in range(T)],
        "per_sample_round_auc": dict(zip((f"{s}:{i}" for s, i in keys), auc.tolist())),
        "ranks": {}, "paired": None,
    }


def _rank(entries: list[dict]) -> None:
    for metric in RANKED_BY:
        order = sorted(entries, key=lambda e: (-(e[metric]["mean"] if e[metric]["mean"] is not None else -np.inf),
                                               e["label"]))
        for i, e in enumerate(order, 1):
            e["ranks"][metric] = i
    entries.sort(key=lambda e: e["ranks"]["round_auc"])


def _pair(entries: list[dict], opts: BoardOptions) -> None:
    ref = entries[0]
    b = np.array(list(ref["per_sample_round_auc"].values()))
    for e in entries[1:]:
        p = paired_comparison(np.array(list(e["per_sample_round_auc"].values())), b, n_boot=opts.n_boot,
                              n_perm=opts.n_boot, seed=opts.seed, level=opts.level)
        e["paired"] = {"reference": ref["label"], "mean_diff": p.mean_diff, "low": p.ci_low, "high": p.ci_high,
                       "p_value": p.p_value, "wins": p.wins, "ties": p.ties, "losses": p.losses, "n": p.n}


def _complete(sess: store.Session, curves: dict) -> str | None:
    """Why a finished session is not ranked (None when it is complete)."""
    full = sum(1 for c in curves.values() if len(c) >= sess.max_i)
    if full < sess.n_samples:
        return f"finished with {full} of {sess.n_samples} samples complete"
    return None


def build_board(database: store.Database, opts: BoardOptions = BoardOptions()) -> dict:
    """The leaderboard of every finished session in ``database`` (JSON-ready)."""
    names = database.user_names()
    groups: dict[tuple, list[dict]] = {}
    unranked = []
    for sess in database.finished_sessions():
        report = pd.DataFrame(database.report(sess.key)).drop(columns=["session_id"])
        curves = per_sample_jf(report)
        why = _complete(sess, curves)
        user = names.get(sess.user_id, "?")
        if why:
            unranked.append({"user": user, "session": sess.key[:8], "dataset": sess.dataset, "rounds": sess.max_i,
                             "finished": _iso(sess.finished), "reason": why})
            continue
        keys = sorted(curves)
        entry = _entry(sess, user, report, curves, keys, opts)
        groups.setdefault((sess.dataset, sess.fingerprint, sess.max_i, tuple(keys)), []).append(entry)
    out = []
    for (dataset, fingerprint, T, keys), entries in sorted(groups.items()):
        _rank(entries)
        _pair(entries, opts)
        notes = []
        if len(keys) < SMALL_N:
            notes.append(f"only {len(keys)} samples: percentile bootstrap CIs are too narrow with so few samples "
                         f"(they undercover); the exact permutation p-value is the safer guide")
        out.append({"dataset": dataset, "fingerprint": fingerprint, "rounds": T, "n_samples": len(keys),
                    "reference": entries[0]["label"], "notes": notes, "entries": entries})
    return {"groups": out, "unranked": unranked, "n_boot": opts.n_boot, "seed": opts.seed, "level": opts.level}


class BoardCache:
    """The board, rebuilt only when a session finished since it was last built."""

    def __init__(self, database: store.Database, opts: BoardOptions = BoardOptions()):
        self.db, self.opts = database, opts
        self._lock = threading.Lock()
        self._key, self._board = None, None

    def get(self) -> dict:
        key = tuple(self.db.query("SELECT COUNT(*), MAX(finished) FROM sessions WHERE finished IS NOT NULL")[0])
        with self._lock:
            if key != self._key:
                self._board, self._key = build_board(self.db, self.opts), key
            return self._board
