"""K-fold training of the agent over davis16's 25 sequences (5 folds of 5 sequences): every fold's
agent never sees its test sequences; a manifest lets one run play every sample with the agent that
never saw it (``--agent-weights <out>/manifest.json``, see ``ivosw_bench.agent.strategy``).

    .venv/bin/python scripts/agent_kfold.py folds
    .venv/bin/python scripts/agent_kfold.py train --lookahead LA_DIR --out runs/kfold/oracle --seeds 0,1,2 \\
        [--setting oracle|wild] [--set KEY=VALUE ...] [--jobs 2]

``train`` first computes the random-policy baseline of every sample once (shared by all folds), then
trains the (fold, seed) agents in parallel processes, each selecting its checkpoint on validation
sequences drawn from its own training pool. It writes ``<out>/fold<k>-seed<s>/`` (the training
folders), ``<out>/manifest.json`` and ``<out>/kfold.csv`` (per fold and seed: the selected checkpoint,
its validation round-AUC and Linspace's on the same validation samples).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

N_FOLDS = 5


def folds(dataset) -> list[list[str]]:
    seqs = sorted(dataset.sequences)
    return [seqs[k::N_FOLDS] for k in range(N_FOLDS)]


def _train_one(cfg_dict: dict, out: str) -> dict:
    from ivosw_bench.agent.train import AgentTrainConfig, train_agent

    summary = train_agent(AgentTrainConfig(**cfg_dict), out, progress=False)
    return {"out": out, **summary["selected"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("folds")
    tr = sub.add_parser("train")
    tr.add_argument("--lookahead", required=True)
    tr.add_argument("--out", required=True)
    tr.add_argument("--dataset", default="davis16-human")
    tr.add_argument("--setting", default="oracle", choices=["oracle", "wild"])
    tr.add_argument("--seeds", default="0,1,2")
    tr.add_argument("--only-folds", default=None, help="comma-separated fold numbers (default: all)")
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    tr.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()

    from ivosw_bench import compat
    from ivosw_bench.agent.env import WindowSpec
    from ivosw_bench.agent.train import config_from_options, random_baseline
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.executors import make_executor
    from ivosw_bench.files import write_json

    compat.apply()
    if args.cmd == "folds":
        for k, f in enumerate(folds(open_dataset("davis16-human", check=False))):
            print(f"fold {k}: {', '.join(f)}")
        return
    ds = open_dataset(args.dataset, check=False)
    fs = folds(ds)
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = range(N_FOLDS) if args.only_folds is None else [int(k) for k in args.only_folds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = config_from_options({"dataset": args.dataset, "lookahead_dir": args.lookahead, "setting": args.setting,
                                "jobs": args.jobs}, args.overrides)
    specs = [WindowSpec(s, i, 0, None) for s, i in ds.samples(sorted(ds.sequences))]
    cache = Path(base.cache_dir or Path(args.lookahead) / "cache")
    random_baseline(base, specs, cache, log=print)
    tasks = []
    for k in wanted:
        for seed in seeds:
            cfg = dataclasses.replace(base, holdout=fs[k], seed=seed, jobs=1)
            tasks.append((dataclasses.asdict(cfg), str(out / f"fold{k}-seed{seed}")))
    rows = []
    with make_executor("local", args.jobs) as ex:
        for i, res in ex.map_unordered(_train_one, tasks):
            rows.append(res)
            print(f"{Path(res['out']).name}: {res['checkpoint']} validation {res['val_round_auc']:.2f} "
                  f"(Linspace {res['linspace_round_auc']:.2f})", flush=True)
    manifest = {"kind": "ivosw-agent-kfold", "dataset": args.dataset, "setting": args.setting,
                "folds": [{"fold": k, "test_sequences": fs[k],
                           "weights": {str(s): f"fold{k}-seed{s}/agent.pt" for s in seeds}} for k in range(N_FOLDS)]}
    write_json(out / "manifest.json", manifest)
    rows.sort(key=lambda r: r["out"])
    with open(out / "kfold.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"manifest: {out / 'manifest.json'}")


if __name__ == "__main__":
    main()
