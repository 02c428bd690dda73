"""How well a wild run's predicted per-frame quality ranks the frames of each video: at a round where
a wild run and an oracle run of the same samples are in the same state (round 1, after the initial
scribble, by default), the Spearman correlation within each video between the QA network's estimate
(the wild run's quality.csv) and the true J&F (the oracle run's quality.csv), with the mean absolute
error and whether the predicted worst frame is the true worst one.

    .venv/bin/python scripts/qa_rank.py runs/test-wild/RUN runs/test/RUN [--round 1]
"""
from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wild_run", help="run folder of the wild setting (quality = the QA network's estimate)")
    ap.add_argument("oracle_run", help="run folder of the oracle setting (quality = true J&F)")
    ap.add_argument("--round", type=int, default=1, help="a round both runs reach in the same state [default: 1]")
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    tables = []
    for folder in (args.wild_run, args.oracle_run):
        path = Path(folder) / "quality.csv"
        try:
            q = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {path}: cannot read ({exc})") from None
        tables.append(q[q["round"] == args.round])
    key = ["sequence", "scribble_idx", "round", "frame"]
    both = tables[0].merge(tables[1], on=key, suffixes=("_pred", "_true"))
    if both.empty:
        raise SystemExit(f"error: {args.wild_run} and {args.oracle_run} share no sample at round {args.round}")
    rows = []
    for (seq, idx), g in both.groupby(["sequence", "scribble_idx"]):
        pred, true = g["quality_pred"].to_numpy(), g["quality_true"].to_numpy()
        rho = spearmanr(pred, true)[0] if np.ptp(pred) > 0 and np.ptp(true) > 0 else float("nan")
        rows.append((f"{seq}:{idx}", rho, float(np.abs(pred - true).mean()),
                     int(g["frame"].iloc[pred.argmin()]) == int(g["frame"].iloc[true.argmin()])))
    for name, rho, mae, same in rows:
        print(f"{name:24s} spearman {rho:+.2f}  mae {mae:.3f}  worst frame {'same' if same else 'differs'}")
    rhos = np.array([r[1] for r in rows], float)
    print(f"{len(rows)} samples at round {args.round}: mean spearman {np.nanmean(rhos):+.2f} "
          f"(min {np.nanmin(rhos):+.2f}, max {np.nanmax(rhos):+.2f}), mean mae {np.mean([r[2] for r in rows]):.3f}, "
          f"worst frame found in {sum(r[3] for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
