"""Agent inference latency on CPU: one recommendation for an N-frame video (target < 50 ms at N = 100).

    .venv/bin/python benchmarks/agent_latency.py [--frames 100] [--repeats 200] [--weights PATH]

Measures, in the same run: the agent's full ``recommend`` (state tensor + Bi-LSTM forward + masked
argmax), the bare network forward, and two baselines: the worst-oracle strategy's ``recommend``
(numpy argmin) and torch's overhead for an empty forward (an ``nn.Identity`` on the same input).
Prints medians and 90th percentiles in milliseconds and ratios to the baselines.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivosw_bench.agent.model import QNetwork, save_weights, state_tensor  # noqa: E402
from ivosw_bench.agent.strategy import DEFAULT_WEIGHTS, AgentStrategy  # noqa: E402
from ivosw_bench.strategies.base import RoundState  # noqa: E402
from ivosw_bench.strategies.baselines import WorstOracleStrategy  # noqa: E402


def timeit(fn, repeats: int) -> np.ndarray:
    for _ in range(5):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return np.array(out) * 1000.0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--weights", default=None, help="agent weights (default: the shipped file, or a random "
                                                    "network of the same shape when it is absent)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = Path(args.weights) if args.weights else DEFAULT_WEIGHTS
    if not weights.is_file():
        import tempfile

        weights = Path(tempfile.mkdtemp()) / "random.pt"
        save_weights(QNetwork(), weights, {"state": "both"})
        print(f"(no weights at {DEFAULT_WEIGHTS}: timing a random network of the default shape)")
    n = args.frames
    rng = np.random.default_rng(0)
    hist = np.zeros(n, np.int64)
    hist[rng.choice(n, 4, replace=False)] = 1
    state = RoundState(t=5, n_frames=n, quality=rng.random(n), history=hist,
                       annotated=list(np.flatnonzero(hist)))
    agent = AgentStrategy(agent_weights=weights)
    worst = WorstOracleStrategy()
    x = state_tensor(state.quality, state.history).unsqueeze(0)
    ident = torch.nn.Identity()

    def forward():
        with torch.inference_mode():
            agent.net(x)

    def empty():
        with torch.inference_mode():
            ident(x)

    rows = [("agent.recommend", timeit(lambda: agent.recommend(state), args.repeats)),
            ("agent network forward", timeit(forward, args.repeats)),
            ("baseline: worst-oracle.recommend", timeit(lambda: worst.recommend(state), args.repeats)),
            ("baseline: empty torch forward", timeit(empty, args.repeats))]
    print(f"{n}-frame video, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.repeats} repeats, weights {weights}")
    for name, t in rows:
        print(f"  {name:34s} median {np.median(t):8.3f} ms   p90 {np.percentile(t, 90):8.3f} ms")
    agent_ms = np.median(rows[0][1])
    print(f"  agent / worst-oracle: {agent_ms / np.median(rows[2][1]):.1f}x;  agent / empty forward: "
          f"{agent_ms / np.median(rows[3][1]):.1f}x;  target < 50 ms: "
          f"{'met' if agent_ms < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
