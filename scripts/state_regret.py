"""One-step regret on stored look-ahead states: the next-round J&F a choice gives up against the best
of the tried candidates, for agents (weights files) beside random, worst-oracle and the best candidate.

    .venv/bin/python scripts/state_regret.py --lookahead LA_DIR --sequences a,b [--agents NAME=WEIGHTS ...]
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lookahead", required=True)
    ap.add_argument("--sequences", required=True, help="comma-separated")
    ap.add_argument("--agents", nargs="*", default=[], help="NAME=PATH of agent weights")
    ap.add_argument("--setting", default="oracle", choices=["oracle", "wild"])
    args = ap.parse_args()

    from ivosw_bench.agent.model import load_weights
    from ivosw_bench.agent.supervised import load_states, state_regret

    states = load_states(args.lookahead, args.sequences.split(","), args.setting)
    if not states:
        raise SystemExit(f"error: no look-ahead states of {args.sequences} in {args.lookahead}")
    print(f"{len(states)} states of {args.lookahead} ({args.setting} quality)")
    rows = [("random candidate (mean)", np.mean([s.jf_next.max() - s.jf_next.mean() for s in states])),
            ("worst-oracle (unannotated)", np.mean([
                s.jf_next.max() - s.jf_next[int(np.argmin(np.where(s.history[s.candidates] == 0,
                                                                  s.quality[s.candidates], np.inf)))]
                for s in states]))]
    for item in args.agents:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --agents expects NAME=PATH, got '{item}'")
        net, blob = load_weights(path)
        cfg = types.SimpleNamespace(action_space=str(blob.get("action_space", "free")),
                                    state=str(blob.get("state", "paper")))
        rows.append((f"{name} ({cfg.action_space})", state_regret(net, states, cfg)["regret"]))
    for name, r in rows:
        print(f"{name:40s} {r:.4f}")


if __name__ == "__main__":
    from ivosw_bench.errors import UserError

    try:
        main()
    except UserError as exc:  # a missing or unfit weights file, an unknown dataset, ...: one line
        raise SystemExit(f"error: {exc}") from None
