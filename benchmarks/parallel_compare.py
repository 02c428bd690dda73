"""``compare --jobs N`` against ``--jobs 1`` in one run: wall time of the same comparison, serial and
parallel, and a check that the summaries are identical (timing fields excepted).

    .venv/bin/python benchmarks/parallel_compare.py [--dataset davis16-train] [--sequences bear,boat]
        [--strategies random,linspace,worst-oracle] [--seeds 0] [--rounds 4] [--jobs 2]

Run it on an otherwise idle machine: the ratio is what the cores give. Writes
benchmarks/results/parallel_compare.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

#: fields that depend on wall-clock time (davisinteractive's time axis includes the compute time)
TIMING_KEYS = ("seconds_per_round", "time_auc", "jf_at_60s", "davis_curve")


def _strip(obj):
    """A summary without its timing fields (they differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="davis16-train")
    ap.add_argument("--sequences", default="bear,boat", help="comma-separated ('' = all of the dataset)")
    ap.add_argument("--strategies", default="random,linspace,worst-oracle")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    from ivosw_bench.compare import compare
    from ivosw_bench.session import RunConfig

    seeds = [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    sequences = args.sequences.split(",") if args.sequences else None
    result = {"dataset": args.dataset, "sequences": sequences, "strategies": strategies,
              "seeds": seeds, "rounds": args.rounds, "machine": platform.machine(), "cpu_count": os.cpu_count()}
    summaries = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, args.jobs):
            out = Path(tmp) / f"jobs{jobs}"
            base = RunConfig(dataset=args.dataset, sequences=sequences, rounds=args.rounds,
                             out=str(out), setting="oracle")
            t0 = time.perf_counter()
            paths, _, _ = compare(base, strategies, seeds, jobs=jobs)
            result[f"jobs{jobs}_s"] = round(time.perf_counter() - t0, 2)
            summaries[jobs] = {Path(p).name: _strip(json.loads((Path(p) / "summary.json").read_text()))
                               for p in paths}
            print(f"--jobs {jobs}: {result[f'jobs{jobs}_s']:.1f} s", flush=True)
    result["speedup"] = round(result["jobs1_s"] / result[f"jobs{args.jobs}_s"], 2)
    result["identical_summaries"] = summaries[1] == summaries[args.jobs]
    if not result["identical_summaries"]:
        diff = sorted(k for k in summaries[1] if summaries[1][k] != summaries[args.jobs].get(k))
        print(f"runs whose summaries differ: {', '.join(diff)}")
    print(f"speed-up --jobs {args.jobs} / --jobs 1: {result['speedup']:.2f}x; "
          f"summaries identical: {result['identical_summaries']}")
    dest = Path(__file__).parent / "results" / "parallel_compare.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
