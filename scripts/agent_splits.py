"""Held-out training of the agent on davis16's 25 sequences: two test splits of 6 sequences that no
training run of theirs sees, the 13 other sequences for choosing configurations, and a manifest so
that one run plays every test sample with the agent that never saw it (``--agent-weights
<out>/manifest.json``, see ``ivosw_bench.agent.strategy``).

    .venv/bin/python scripts/agent_splits.py splits
    .venv/bin/python scripts/agent_splits.py train --lookahead LA_DIR --out runs/split-agents/oracle --seeds 0,1,2 \\
        [--setting oracle|wild] [--set KEY=VALUE ...] [--jobs 2]
    .venv/bin/python scripts/agent_splits.py final --lookahead LA_DIR --out runs/final-agent/oracle --seed 0 ...

- split A: the project's earlier held-out sequences (bear, boat, car-turn, dance-jump, kite-walk, tennis);
- split B: the QA network's second held-out split (bmx-bumps, bus, flamingo, hockey, soccerball, swing);
- each split's agents train on the 19 other sequences and choose their checkpoint on 4 of the 13
  ``REST`` sequences (never a test sequence); configurations are compared with ``ablate`` on the
  REST sequences only (train on 9, validate on 4), so no test sample chooses anything.

``train`` computes the random-policy baseline of every sample once (shared), trains the (split, seed)
agents in parallel processes and writes ``<out>/<split>-seed<s>/``, ``<out>/manifest.json`` and
``<out>/splits.csv`` (per split and seed: the selected checkpoint and its validation round-AUC beside
Linspace's). ``final`` trains the shipped agent on all 25 sequences (validation: 4 REST sequences).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPLITS = {
    "A": ["bear", "boat", "car-turn", "dance-jump", "kite-walk", "tennis"],
    "B": ["bmx-bumps", "bus", "flamingo", "hockey", "soccerball", "swing"],
}
REST = ["breakdance-flare", "dog-agility", "drift-turn", "horsejump-low", "mallard-fly", "mallard-water",
        "motocross-bumps", "motorbike", "paragliding", "rollerblade", "scooter-gray", "stroller", "surf"]
VAL = REST[1::3]  # dog-agility, mallard-fly, motorbike, scooter-gray: choose checkpoints and configurations


def _train_one(cfg_dict: dict, out: str) -> dict:
    """Train one agent into ``out``; a finished training of the same configuration there is reused."""
    import json

    from ivosw_bench.agent.train import AgentTrainConfig, train_agent

    done, config = Path(out) / "summary.json", Path(out) / "config.json"
    if done.exists() and config.exists() and json.loads(config.read_text()) == json.loads(json.dumps(cfg_dict)):
        summary = json.loads(done.read_text())
    else:
        summary = train_agent(AgentTrainConfig(**cfg_dict), out, progress=False)
    return {"out": out, **summary["selected"]}


def _write_rows(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (one per training folder), keeping the rows of other folders already in ``path``
    (a later call with more seeds adds to the table instead of replacing it)."""
    if path.exists():
        with open(path, newline="") as fh:
            done = {r["out"]: r for r in csv.DictReader(fh)}
        rows = list({**done, **{r["out"]: r for r in rows}}.values())
    rows = sorted(rows, key=lambda r: r["out"])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def variant_table(folder: Path) -> str:
    """Markdown: per variant (the folder name before '-seed'), the selected checkpoint's validation
    round-AUC per seed, their mean, Linspace's, and the configuration that differs from the first."""
    import json

    import numpy as np

    runs = {}
    for summary in sorted(folder.glob("*-seed*/summary.json")):
        name, _, seed = summary.parent.name.rpartition("-seed")
        sel = json.loads(summary.read_text())["selected"]
        cfg = json.loads((summary.parent / "config.json").read_text())
        runs.setdefault(name, {"cfg": cfg, "seeds": {}})["seeds"][int(seed)] = sel
    if not runs:
        raise SystemExit(f"error: no '*-seed*/summary.json' in {folder}")
    ref = runs.get("base", next(iter(runs.values())))["cfg"]
    lines = ["| variant | differs from base | seeds | validation round-AUC per seed | mean | Linspace | mean - Linspace |",
             "|---|---|---|---|---:|---:|---:|"]
    for name, r in sorted(runs.items(), key=lambda kv: -np.mean([s["val_round_auc"] for s in kv[1]["seeds"].values()])):
        vals = [r["seeds"][k]["val_round_auc"] for k in sorted(r["seeds"])]
        lin = next(iter(r["seeds"].values()))["linspace_round_auc"]
        diff = ", ".join(f"{k}={r['cfg'][k]}" for k in r["cfg"] if k not in ("seed", "jobs") and r["cfg"][k] != ref.get(k))
        lines.append(f"| {name} | {diff or '-'} | {','.join(map(str, sorted(r['seeds'])))} | "
                     f"{', '.join(f'{v:.2f}' for v in vals)} | {np.mean(vals):.2f} | {lin:.2f} | {np.mean(vals) - lin:+.2f} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("splits")
    t = sub.add_parser("table", help="validation round-AUC per variant of an 'ablate' (or 'train') folder")
    t.add_argument("folder")
    for name in ("train", "final", "ablate"):
        p = sub.add_parser(name)
        p.add_argument("--lookahead", required=True, help="look-ahead folder(s), comma-separated: all are used")
        p.add_argument("--out", required=True)
        p.add_argument("--dataset", default="davis16-human")
        p.add_argument("--setting", default="oracle", choices=["oracle", "wild"])
        p.add_argument("--seeds", default="0,1,2")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--jobs", type=int, default=None)
        if name == "train":
            p.add_argument("--splits", default="A,B", help="the test splits to train agents for (e.g. A)")
        if name == "ablate":
            p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                           help="a configuration to compare (repeatable), e.g. paper:state=paper")
    return ap


def main() -> None:
    args = _parser().parse_args()
    if args.cmd == "table":
        print(variant_table(Path(args.folder)))
        return
    if args.cmd == "splits":
        for k, seqs in SPLITS.items():
            print(f"split {k} (test): {', '.join(seqs)}")
        print(f"rest (training; validation {', '.join(VAL)}): {', '.join(REST)}")
        return

    from ivosw_bench import compat
    from ivosw_bench.agent.env import WindowSpec
    from ivosw_bench.agent.train import config_from_options, random_baseline
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.executors import make_executor
    from ivosw_bench.files import write_json

    compat.apply()
    ds = open_dataset(args.dataset, check=False)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lookahead = args.lookahead.split(",") if "," in args.lookahead else args.lookahead
    base = config_from_options({"dataset": args.dataset, "lookahead_dir": lookahead, "setting": args.setting,
                                "jobs": args.jobs, "val_sequences": VAL}, args.overrides)
    specs = [WindowSpec(s, i, 0, None) for s, i in ds.samples(sorted(ds.sequences))
             if base.scribble_sets is None or i in base.scribble_sets]
    if base.needs_baseline():
        random_baseline(base, specs, base.episode_cache_dir(out), log=print)
    tasks = []
    if args.cmd == "train":
        for split, test in SPLITS.items():
            if split not in args.splits.split(","):
                continue
            for seed in seeds:
                cfg = dataclasses.replace(base, holdout=test, seed=seed, jobs=1)
                tasks.append((dataclasses.asdict(cfg), str(out / f"{split}-seed{seed}")))
    elif args.cmd == "final":
        for seed in seeds:
            tasks.append((dataclasses.asdict(dataclasses.replace(base, seed=seed, jobs=1)), str(out / f"all-seed{seed}")))
    else:  # ablate: REST only (no test split sequence anywhere)
        holdout = SPLITS["A"] + SPLITS["B"]
        variants = [("base", [])] + [(v.split(":", 1)[0], v.split(":", 1)[1].split(",")) for v in args.variant]
        for name, sets in variants:
            cfg = config_from_options({**dataclasses.asdict(base), "holdout": holdout, "jobs": 1}, sets)
            for seed in seeds:
                tasks.append((dataclasses.asdict(dataclasses.replace(cfg, seed=seed)), str(out / f"{name}-seed{seed}")))
    rows = []
    with make_executor("local", args.jobs) as ex:
        for _, res in ex.map_unordered(_train_one, tasks):
            rows.append(res)
            print(f"{Path(res['out']).name}: {res['checkpoint']} validation {res['val_round_auc']:.2f} "
                  f"(Linspace {res['linspace_round_auc']:.2f})", flush=True)
    _write_rows(out / f"{args.cmd}.csv", rows)
    if args.cmd == "train":
        manifest = {"kind": "ivosw-agent-kfold", "dataset": args.dataset, "setting": args.setting,
                    "folds": [{"split": k, "test_sequences": test,
                               "weights": {str(s): f"{k}-seed{s}/agent.pt" for s in seeds}}
                              for k, test in SPLITS.items() if k in args.splits.split(",")]}
        write_json(out / "manifest.json", manifest)
        print(f"manifest: {out / 'manifest.json'}")


if __name__ == "__main__":
    main()
