"""What the recommendation costs a run per round: the QA network's estimate and the agent's choice, on
the path a run takes, against the previous path, on a long 480p video.

    .venv/bin/python benchmarks/qa_latency.py [--dataset davis16-train] [--sequence stroller] [--repeats 3]

The built-in backend runs round 1 and round 2 on the sequence (its real initial scribble, then the
robot on the middle frame); on round 2's prediction, in the same process:

- ``run path``: ``LearnedQuality.estimate`` as a run calls it (crops from the backend's working-
  resolution probabilities, the network in the precision ``auto`` picks), then ``AgentStrategy``'s
  ``recommend`` on the resulting state (cues from the prediction, NumPy forward);
  timed with nothing to reuse (every frame through the network), and as round 2 meets it after
  round 1's estimate (frames whose prediction did not change are reused; how many changed);
- ``previous path``: the estimate as it was (480p probability stack built, crops cut there, float32).

Prints seconds (and per 100 frames), their ratio, the largest and mean |q difference| between the two
paths (the stated tolerance) and whether the two paths' worst frames agree. Writes
benchmarks/results/qa_latency.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="davis16-train")
    ap.add_argument("--sequence", default="stroller")
    ap.add_argument("--weights", default=None, help="QA checkpoint (default: shipped)")
    ap.add_argument("--agent-weights", default=None, help="agent weights (default: shipped)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "qa_latency.json"))
    args = ap.parse_args()

    import torch

    from ivosw_bench import compat
    from ivosw_bench.agent.strategy import AgentStrategy
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.episode import load_sample, make_robot, robot_scribble
    from ivosw_bench.quality.learned import LearnedQuality
    from ivosw_bench.quality.model import QualityModel
    from ivosw_bench.registry import make_backend
    from ivosw_bench.strategies.base import RoundState

    compat.apply()
    ds = open_dataset(args.dataset, sequences=[args.sequence], check=False)
    seq = args.sequence
    frames, gt, scribble = load_sample(ds, seq)
    n, n_obj = len(frames), int(ds.sequences[seq]["num_objects"])
    backend = make_backend("classic")
    backend.reset(seq, frames, n_obj)
    first = next(i for i, s in enumerate(scribble["scribbles"]) if s)
    t0 = time.perf_counter()
    pred1 = backend.interact(scribble, first)
    t_backend = time.perf_counter() - t0
    pred = backend.interact(robot_scribble(make_robot(), seq, pred1.labels, gt, n_obj, n // 2), n // 2)

    run_qa = LearnedQuality(weights=args.weights)  # precision "auto", as in a run
    old = QualityModel.load(args.weights, device="cpu", precision="fp32")

    def fresh():  # every frame through the network (nothing to reuse: a sample's first estimate)
        run_qa.reset(seq, frames, n_obj)
        return run_qa.estimate(frames, pred)

    t_run, q_run = best_of(fresh, args.repeats)

    def after_round1():  # round 2 as a run meets it: round 1's unchanged frames are reused
        run_qa.reset(seq, frames, n_obj)
        run_qa.estimate(frames, pred1)
        done = run_qa.frames_computed
        t = time.perf_counter()
        run_qa.estimate(frames, pred)
        return time.perf_counter() - t, run_qa.frames_computed - done

    t_reuse, n_changed = min(after_round1() for _ in range(args.repeats))

    def previous():
        p = type(pred)(labels=pred.labels, _probs=pred._probs)  # no low-res probabilities: the 480p stack
        return old.predict_video(frames, probs=p.probs, labels=np.asarray(p.labels), n_objects=n_obj)[0]

    t_prev, q_prev = best_of(previous, args.repeats)
    h = np.zeros(n, np.int64)
    h[[first, n // 2]] = 1
    state = RoundState(t=2, n_frames=n, quality=q_run, history=h, annotated=[first, n // 2], rounds=8,
                       frames=lambda: frames, prediction=lambda: pred)
    agent = AgentStrategy(agent_weights=args.agent_weights)
    t_agent, _ = best_of(lambda: agent.recommend(state), max(5, args.repeats))
    diff = np.abs(np.asarray(q_run) - np.asarray(q_prev))
    free = np.flatnonzero(h == 0)
    res = {"sequence": seq, "n_frames": n, "torch_threads": torch.get_num_threads(),
           "qa_precision_run_path": run_qa.model.precision, "backend_round1_s": round(t_backend, 3),
           "qa_run_path_s": round(t_run, 3), "qa_previous_path_s": round(t_prev, 3),
           "qa_speedup": round(t_prev / t_run, 2), "qa_round2_reuse_s": round(t_reuse, 3),
           "round2_frames_changed": int(n_changed), "agent_recommend_s": round(t_agent, 4),
           "recommendation_s": round(t_run + t_agent, 3),
           "recommendation_s_per_100_frames": round((t_run + t_agent) * 100 / n, 3),
           "q_abs_diff_max": round(float(diff.max()), 4), "q_abs_diff_mean": round(float(diff.mean()), 5),
           "worst_frame_same": bool(free[np.argmin(q_run[free])] == free[np.argmin(q_prev[free])]),
           "machine": platform.processor() or platform.machine()}
    for k, v in res.items():
        print(f"{k:34s} {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
