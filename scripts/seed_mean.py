"""Seed-mean comparison from a leaderboard's per_sequence.csv: the round-AUC of several runs (e.g. one
agent trained with seeds 0, 1, 2, each run with its own weights file, which the leaderboard lists
apart) averaged within each sample, against a reference strategy, with a paired bootstrap 95% CI.

    .venv/bin/python scripts/seed_mean.py BOARD/per_sequence.csv --runs run_a,run_b,run_c --reference worst-oracle

Several boards (e.g. one per test split, each run with the QA network that never saw that split) are
read as one table: give every per_sequence.csv; a run id may cover different samples in each.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("per_sequence", nargs="+", help="per_sequence.csv of one or more leaderboards")
    ap.add_argument("--runs", required=True, help="comma-separated run ids (the run_id column)")
    ap.add_argument("--reference", action="append", required=True,
                    help="strategy label(s) to compare with (repeatable); seeds of a label are averaged")
    args = ap.parse_args()

    import pandas as pd

    from ivosw_bench.results.stats import paired_comparison

    where = ", ".join(args.per_sequence)
    frames = []
    for path in args.per_sequence:
        try:
            frames.append(pd.read_csv(path))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {path}: cannot read ({exc})") from None
    df = pd.concat(frames, ignore_index=True)
    runs = args.runs.split(",")
    missing = sorted(set(runs) - set(df["run_id"]))
    if missing:
        raise SystemExit(f"error: {where}: no run(s) {', '.join(missing)}")
    key = ["sequence", "scribble_idx"]
    twice = df[df["run_id"].isin(runs)].duplicated(["run_id"] + key)
    if twice.any():
        raise SystemExit(f"error: {where}: a run has the same sample more than once (boards overlap)")
    mine = df[df["run_id"].isin(runs)].groupby(key)["round_auc"].agg(["mean", "count"])
    if (mine["count"] != len(runs)).any():
        raise SystemExit("error: the runs do not cover the same samples")
    per_seed = df[df["run_id"].isin(runs)].groupby("run_id")["round_auc"].mean()
    print(f"{len(mine)} samples; runs {', '.join(f'{r} {per_seed[r]:.2f}' for r in runs)}; "
          f"seed mean {mine['mean'].mean():.2f}")
    for ref in args.reference:
        other = df[df["label"] == ref].groupby(key)["round_auc"].mean()
        if other.empty:
            raise SystemExit(f"error: {where}: no strategy labelled '{ref}'")
        both = mine.join(other.rename("ref"), how="inner")
        r = paired_comparison(both["mean"].to_numpy(), both["ref"].to_numpy(), seed=0)
        print(f"- {ref} ({both['ref'].mean():.2f}, {len(both)} samples): {r.mean_diff:+.2f} "
              f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}], p {r.p_value:.3g}, W/T/L {r.wins}/{r.ties}/{r.losses}")


if __name__ == "__main__":
    main()
