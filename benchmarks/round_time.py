"""Seconds per round by stage, the harness's share of a round, and davisinteractive's stock evaluation
against this project's evaluation path, all in one run.

    .venv/bin/python benchmarks/round_time.py [--dataset davis16-train] [--sequences bear,stroller] [--rounds 8]

1. Two real runs of the session loop on real 480p video: the oracle setting (``--oracle-strategy``,
   default linspace) and the wild setting (``--wild-strategy``, default worst-predicted). From the
   runs' own stage timings (rounds.csv): mean seconds per round of backend / quality / strategy /
   evaluation, and the harness share = (quality + strategy + evaluation) / total.
2. The evaluation of one round, stock against new, on the same predictions (the backend's rounds on
   the first sequence): stock = davisinteractive's ``load_annotations``, ``batched_jaccard``,
   ``batched_f_measure`` and robot as released; new = the cached ground truth, the vectorised J and F
   and the one-frame, cropped robot (``ivosw_bench.evaluation``); plus the oracle setting's case where
   J and F are reused from the quality stage. Checks that the numbers and scribbles are identical.

Writes benchmarks/results/round_time.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

STAGES = ("backend", "quality", "strategy", "eval")


def stage_times(run_dir: Path) -> dict:
    import pandas as pd

    r = pd.read_csv(run_dir / "rounds.csv")
    secs = {s: float(r[f"{s}_s"].mean()) for s in STAGES}
    total = sum(secs.values())
    return {**{k: round(v, 4) for k, v in secs.items()}, "total": round(total, 4),
            "harness_share": round((total - secs["backend"]) / total, 4), "rounds": int(len(r))}


def _paths(scribble) -> list:
    return [[(s["object_id"], np.round(s["path"], 12).tolist()) for s in f] for f in scribble["scribbles"]]


def stock_vs_new(dataset, seq: str, rounds: int) -> dict:
    """Seconds of one round's evaluation, stock and new, on the same predictions; identical outputs."""
    from davisinteractive.dataset.davis import Davis
    from davisinteractive.robot import interactive_robot
    from davisinteractive.robot.interactive_robot import InteractiveScribblesRobot
    from skimage.morphology import medial_axis

    from ivosw_bench import compat
    from ivosw_bench.data.davis_layout import registered
    from ivosw_bench.episode import make_robot
    from ivosw_bench.jf import per_frame_jf, reference_per_frame_jf
    from ivosw_bench.registry import make_backend

    frames = dataset.frames(seq)
    n_obj = int(dataset.sequences[seq]["num_objects"])
    scribble = json.loads((dataset.root / "Scribbles" / seq / "001.json").read_text())
    be = make_backend("classic")
    be.reset(seq, frames, n_obj)
    frame = next(i for i, s in enumerate(scribble["scribbles"]) if s)
    robot = make_robot()
    fast_interact = InteractiveScribblesRobot.interact
    times = {"stock": [], "new": [], "new_oracle_reuse": []}
    same = True
    with registered(dataset, [seq]):
        davis = Davis(davis_root=str(dataset.root))
        for r in range(rounds):
            pred = be.interact(scribble, frame).labels
            nxt = (frame + len(frames) // 3) % len(frames)
            # stock: what davisinteractive 1.0.4 does per submission
            t0 = time.perf_counter()
            gt = Davis.load_annotations.__wrapped__(davis, seq)
            js, fs = reference_per_frame_jf(gt, pred.astype(np.int64), n_obj)
            orig_ma = interactive_robot.medial_axis
            interactive_robot.medial_axis = lambda im: medial_axis(im, rng=compat.ROBOT_SEED)
            InteractiveScribblesRobot.interact = fast_interact.__wrapped__
            gen = InteractiveScribblesRobot._generate_scribble_mask
            InteractiveScribblesRobot._generate_scribble_mask = gen.__wrapped__
            try:
                s_stock = robot.interact(seq, pred.astype(np.int64), gt, nb_objects=n_obj, frame=nxt)
            finally:
                interactive_robot.medial_axis = orig_ma
                InteractiveScribblesRobot.interact = fast_interact
                InteractiveScribblesRobot._generate_scribble_mask = gen
            times["stock"].append(time.perf_counter() - t0)
            # new: the project's path (ground truth cached after the first round)
            t0 = time.perf_counter()
            gt2 = davis.load_annotations(seq)
            jn, fn = per_frame_jf(gt2, pred, n_obj)
            s_new = robot.interact(seq, pred, gt2, nb_objects=n_obj, frame=nxt)
            times["new"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            robot.interact(seq, pred, davis.load_annotations(seq), nb_objects=n_obj, frame=nxt)
            times["new_oracle_reuse"].append(time.perf_counter() - t0)
            same &= bool(np.abs(js - jn).max() <= 1e-9 and np.abs(fs - fn).max() <= 1e-9
                         and _paths(s_stock) == _paths(s_new))
            scribble, frame = s_new, nxt
    mean = {k: float(np.mean(v)) for k, v in times.items()}
    return {"sequence": seq, "rounds": rounds, "stock_s": round(mean["stock"], 4), "new_s": round(mean["new"], 4),
            "new_with_oracle_jf_s": round(mean["new_oracle_reuse"], 4),
            "speedup": round(mean["stock"] / mean["new"], 2),
            "speedup_oracle": round(mean["stock"] / mean["new_oracle_reuse"], 2), "identical": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="davis16-train")
    ap.add_argument("--sequences", default="bear,stroller")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--oracle-strategy", default="linspace")
    ap.add_argument("--wild-strategy", default="worst-predicted")
    ap.add_argument("--skip-runs", action="store_true", help="only the stock-vs-new evaluation")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "round_time.json"))
    args = ap.parse_args()

    from ivosw_bench import compat
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.session import RunConfig, run

    compat.apply()
    seqs = args.sequences.split(",")
    ds = open_dataset(args.dataset, sequences=seqs)
    result = {"dataset": args.dataset, "sequences": seqs, "machine": platform.processor() or platform.machine()}
    if not args.skip_runs:
        with tempfile.TemporaryDirectory() as tmp:
            for setting, strategy in (("oracle", args.oracle_strategy), ("wild", args.wild_strategy)):
                path, _ = run(RunConfig(strategy=strategy, dataset=args.dataset, sequences=seqs, rounds=args.rounds,
                                        setting=setting, out=tmp))
                result[setting] = {**stage_times(path), "name": strategy}  # "strategy" is a stage's seconds
    result["evaluation"] = stock_vs_new(ds, seqs[0], args.rounds)
    table = Table(title=f"seconds per round on {args.dataset} ({', '.join(seqs)}), one run")
    for col in ("run", *STAGES, "total", "harness share"):
        table.add_column(col, justify="right" if col != "run" else "left")
    for setting in ("oracle", "wild"):
        if setting in result:
            r = result[setting]
            table.add_row(f"{setting}: {r['name']}", *(f"{r[s]:.3f}" for s in STAGES), f"{r['total']:.3f}",
                          f"{100 * r['harness_share']:.1f}%")
    Console().print(table)
    e = result["evaluation"]
    print(f"evaluation of one round ({e['sequence']}, {e['rounds']} rounds): stock davisinteractive {e['stock_s']:.3f} s, "
          f"this project {e['new_s']:.3f} s ({e['speedup']:.1f}x), with the oracle's J&F reused "
          f"{e['new_with_oracle_jf_s']:.3f} s ({e['speedup_oracle']:.1f}x); identical numbers and scribbles: "
          f"{e['identical']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
