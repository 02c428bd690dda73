"""Seconds of the agent's choice as a run pays it (features + prediction cues + NumPy forward), against
the Worst rule's argmin measured in the same run, for a 100-frame 480p video.

    .venv/bin/python benchmarks/agent_latency.py [--weights PATH] [--frames 100] [--repeats 50]

The prediction is a synthetic 480p label video (a moving ellipse) with working-resolution
probabilities, the shape a classic-backend round gives. Writes benchmarks/results/agent_latency.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="agent weights (default: shipped)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "agent_latency.json"))
    args = ap.parse_args()

    from backends.base import Prediction
    from ivosw_bench.agent.strategy import AgentStrategy
    from ivosw_bench.registry import make_strategy
    from ivosw_bench.strategies.base import RoundState, SampleInfo

    n, H, W = args.frames, 480, 854
    yy, xx = np.mgrid[0:H, 0:W]
    labels = np.stack([(((xx - 200 - 4 * t) / 120.0) ** 2 + ((yy - 240) / 90.0) ** 2 < 1) for t in range(n)]).astype(np.uint8)
    small = np.stack([1.0 - labels[:, ::2, ::2], labels[:, ::2, ::2]]).astype(np.float32)
    pred = Prediction(labels=labels, low_res_probs=small)
    h = np.zeros(n, np.int64)
    h[[10, 60]] = 1
    state = RoundState(t=3, n_frames=n, quality=np.random.default_rng(0).random(n), history=h, annotated=[10, 60],
                       rounds=8, prediction=lambda: pred)
    agent = AgentStrategy(agent_weights=args.weights)
    worst = make_strategy("worst-predicted")
    for s in (agent, worst):
        s.reset(SampleInfo("synthetic", 1, n, 1, 0))

    def timed(fn) -> float:
        fn()
        t = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        return float(np.median(t))

    t_agent, t_worst = timed(lambda: agent.recommend(state)), timed(lambda: worst.recommend(state))
    res = {"frames": n, "state": agent.state_mode, "agent_median_s": round(t_agent, 5),
           "worst_median_s": round(t_worst, 6), "ratio_to_worst": round(t_agent / t_worst, 1)}
    for k, v in res.items():
        print(f"{k:18s} {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
