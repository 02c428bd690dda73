"""Seconds per round, split into backend / quality / strategy / davisinteractive evaluation.

    .venv/bin/python benchmarks/round_time.py [--dataset davis16-train] [--sequences bear] [--rounds 8]

Runs the real session loop (worst-oracle strategy by default) on real 480p video and prints each
stage's mean seconds per round and its ratio to davisinteractive's own evaluation (submit_masks),
measured in the same run as the baseline. Falls back to the synthetic data when the real folder is
absent. Writes benchmarks/results/round_time.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ivosw_bench.data.davis_layout import KNOWN_DATASETS
from ivosw_bench.session import RunConfig, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="davis16-train")
    ap.add_argument("--sequences", default="bear")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--backend", default="classic")
    ap.add_argument("--strategy", default="worst-oracle")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "round_time.json"))
    args = ap.parse_args()
    dataset = args.dataset
    if dataset in KNOWN_DATASETS and dataset != "synthetic" and not KNOWN_DATASETS[dataset].is_dir():
        print(f"{KNOWN_DATASETS[dataset]} absent: using the synthetic data")
        dataset, args.sequences = "synthetic", None
    seqs = args.sequences.split(",") if args.sequences else None
    with tempfile.TemporaryDirectory() as tmp:
        path, summary = run(RunConfig(strategy=args.strategy, backend=args.backend, dataset=dataset,
                                      sequences=seqs, rounds=args.rounds, out=tmp))
        rounds = pd.read_csv(path / "rounds.csv")
    stages = ["backend_s", "quality_s", "strategy_s", "eval_s"]
    first, rest = rounds[rounds["round"] == 1], rounds[rounds["round"] > 1]
    base = rounds["eval_s"].mean()
    table = Table(title=f"seconds per round: {args.backend} / {args.strategy} on {dataset} "
                        f"{','.join(summary['per_sample'][i]['sequence'] for i in range(len(summary['per_sample'])))}"
                        f" ({int(rounds['n_frames'].iloc[0])} frames)")
    for col in ("stage", "round 1 (s)", "rounds 2..T (s)", "mean (s)", "x davisinteractive eval"):
        table.add_column(col)
    result = {"machine": platform.processor() or platform.machine(), "dataset": dataset,
              "sequences": args.sequences, "rounds": args.rounds, "n_frames": int(rounds["n_frames"].iloc[0]),
              "stages": {}, "round_auc": summary["metrics"]["round_auc"]}
    for s in stages + ["total"]:
        col = rounds[stages].sum(axis=1) if s == "total" else rounds[s]
        r1 = float(col[first.index].mean())
        rr = float(col[rest.index].mean()) if len(rest) else float("nan")
        m = float(col.mean())
        result["stages"][s.removesuffix("_s")] = {"round1": r1, "later": rr, "mean": m, "ratio_to_eval": m / base}
        table.add_row(s.removesuffix("_s"), f"{r1:.3f}", f"{rr:.3f}", f"{m:.3f}", f"{m / base:.2f}")
    Console().print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
