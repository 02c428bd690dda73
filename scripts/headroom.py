"""The look-ahead ceiling's headroom from stored look-ahead data: per sample, the round-AUC of the
greedy look-ahead episode ('ivosw-bench lookahead --policies greedy') against Linspace and
Worst-oracle played in the same environment (same scale, same episode cache), with paired bootstrap
CIs over samples.

    .venv/bin/python scripts/headroom.py --lookahead LA_DIR [--sequences a,b] [--sets 1,2] [--csv out.csv] \\
        [--agents NAME=MANIFEST_OR_WEIGHTS ...] [--seeds 0,1,2]

``--agents``: agents rolled out in the same environment (a k-fold manifest plays every sample with the
agent that never saw its sequence), one column per agent and seed, and agent - best baseline.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lookahead", required=True)
    ap.add_argument("--sequences", default=None, help="comma-separated (default: every file's)")
    ap.add_argument("--sets", default=None, help="scribble sets to use, e.g. 1,2 (default: all)")
    ap.add_argument("--csv", default=None, help="write the per-sample values here")
    ap.add_argument("--agents", nargs="*", default=[], help="NAME=PATH of agent weights or k-fold manifests")
    ap.add_argument("--seeds", default="0", help="agent seeds (manifest entries), e.g. 0,1,2")
    args = ap.parse_args()

    from ivosw_bench import compat
    from ivosw_bench.agent.env import AgentEnv, WindowSpec
    from ivosw_bench.agent.train import linspace_choice, rollout, round_auc
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.episode import EpisodeCache
    from ivosw_bench.results.stats import paired_comparison

    compat.apply()
    la = Path(args.lookahead)
    seqs = set(args.sequences.split(",")) if args.sequences else None
    sets = {int(s) for s in args.sets.split(",")} if args.sets else None
    agents = {}
    for item in args.agents:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --agents expects NAME=PATH, got '{item}'")
        from ivosw_bench.agent.strategy import AgentStrategy

        agents[name] = {int(sd): AgentStrategy(seed=int(sd), agent_weights=path) for sd in args.seeds.split(",")}
    rows = []
    cache = None
    for f in sorted(la.glob("*__greedy.json")):
        d = json.loads(f.read_text())
        seq, idx = d["sequence"], int(d["scribble_idx"])
        if (seqs and seq not in seqs) or (sets and idx not in sets):
            continue
        cfg = d["config"]
        if cache is None:
            ds = open_dataset(cfg["dataset"], check=False)
            cache = EpisodeCache(path=la / "cache")
        rounds = int(cfg["rounds"])
        greedy = [s["jf"] for s in d["states"]] + [d["final_jf"]]
        env = AgentEnv(ds, WindowSpec(seq, idx, 0, None), cfg["backend"], cfg["backend_options"],
                       float(cfg["env_scale"]), cache)
        start = env.episode.initial_frame
        lin = rollout(env, lambda s, t: linspace_choice(s, t, rounds, start), rounds)
        worst = rollout(env, lambda s, t: int(np.argmin(np.where(s.history == 0, s.quality, np.inf))), rounds)
        row = {"sequence": seq, "scribble_idx": idx, "greedy": round_auc(greedy),
               "linspace": round_auc(lin), "worst_oracle": round_auc(worst)}
        for name, strategies in agents.items():
            for seed, strat in strategies.items():
                row[f"{name}_s{seed}"] = round_auc(rollout(env, _agent_choose(strat, seq, rounds), rounds))
        env.save()
        rows.append(row)
        print(f"{seq}:{idx} greedy {rows[-1]['greedy']:.2f} linspace {rows[-1]['linspace']:.2f} "
              f"worst-oracle {rows[-1]['worst_oracle']:.2f}", flush=True)
    if not rows:
        raise SystemExit(f"error: no greedy look-ahead files for those samples in {la}")
    g, li, w = (np.array([r[k] for r in rows]) for k in ("greedy", "linspace", "worst_oracle"))
    print(f"{len(rows)} samples at env_scale {cfg['env_scale']}: greedy {g.mean():.2f}, linspace {li.mean():.2f}, "
          f"worst-oracle {w.mean():.2f}")
    for name, other in (("greedy - linspace", li), ("worst-oracle - linspace", None)):
        a, b = (g, li) if other is not None else (w, li)
        r = paired_comparison(a, b, seed=0)
        print(f"{name}: {r.mean_diff:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] (p {r.p_value:.3g}, "
              f"W/T/L {r.wins}/{r.ties}/{r.losses})")
    for name, strategies in agents.items():
        a = np.mean([[r[f"{name}_s{sd}"] for sd in strategies] for r in rows], axis=1)
        best = li if li.mean() >= w.mean() else w
        per_seed = ", ".join(f"{np.mean([r[f'{name}_s{sd}'] for r in rows]):.2f}" for sd in strategies)
        for label, other in (("best baseline", best), ("linspace", li), ("greedy", g)):
            r = paired_comparison(a, other, seed=0)
            print(f"{name} (seeds {per_seed}; mean {a.mean():.2f}) - {label}: {r.mean_diff:+.2f} "
                  f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}] (p {r.p_value:.3g}, W/T/L {r.wins}/{r.ties}/{r.losses})")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)


def _agent_choose(strategy, sequence: str, rounds: int):
    """An AgentStrategy's frame from an environment state (the strategy's own rule)."""
    from types import SimpleNamespace

    strategy.reset(SimpleNamespace(sequence=sequence))

    def choose(s, t):
        state = SimpleNamespace(quality=np.asarray(s.quality), history=np.asarray(s.history), t=t, rounds=rounds,
                                prediction=None)
        return strategy.recommend(state)
    return choose


if __name__ == "__main__":
    from ivosw_bench.errors import UserError

    try:
        main()
    except UserError as exc:  # a missing or unfit weights file, an unknown dataset, ...: one line
        raise SystemExit(f"error: {exc}") from None
