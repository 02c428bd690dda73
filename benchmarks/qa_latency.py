"""Seconds of learned quality estimation (QA network) on all frames of an 80-frame 480p video, on CPU.

    .venv/bin/python benchmarks/qa_latency.py [--dataset davis16-train] [--sequence bus] [--weights PATH]

Runs the built-in backend's round 1 on the sequence's initial scribble, then times, in the same run:
the backend's ``interact`` (round 1), the materialisation of its lazy full-resolution probabilities,
the QA crops, the QA network and the whole ``LearnedQuality.estimate`` (probabilities already
materialised, so it is the estimator's own cost). Prints each beside the backend's seconds as a ratio.
Falls back to a synthetic 80-frame 854x480 sequence when the real folder is absent. Uses the shipped
weights when present (else a randomly initialised network of the same shape: same cost). Writes
benchmarks/results/qa_latency.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="davis16-train")
    ap.add_argument("--sequence", default="bus")
    ap.add_argument("--backend", default="classic")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "qa_latency.json"))
    args = ap.parse_args()

    import torch

    from ivosw_bench import compat
    from ivosw_bench.data.davis_layout import KNOWN_DATASETS, open_dataset
    from ivosw_bench.episode import load_sample
    from ivosw_bench.quality.learned import LearnedQuality
    from ivosw_bench.quality.model import QAConfig, QualityModel, crop_geometry, default_weights, object_crops
    from ivosw_bench.registry import make_backend

    compat.apply()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = None
    dataset, seq = args.dataset, args.sequence
    if dataset in KNOWN_DATASETS and dataset != "synthetic" and not KNOWN_DATASETS[dataset].is_dir():
        from ivosw_bench.data.synthetic import generate

        tmp = tempfile.TemporaryDirectory(prefix="qa-latency-")
        print(f"{KNOWN_DATASETS[dataset]} absent: using a synthetic 80-frame 854x480 sequence")
        generate(tmp.name, n_sequences=1, n_frames=80, size=(854, 480), max_objects=1)
        dataset, seq = tmp.name, "synth-000"
    ds = open_dataset(dataset, sequences=[seq], check=False)
    frames, _gt, scribble = load_sample(ds, seq)
    n_obj = int(ds.sequences[seq]["num_objects"])
    weights = Path(args.weights) if args.weights else default_weights()
    if weights.is_file():
        est, wdesc = LearnedQuality(weights=weights, device="cpu"), str(weights)
    else:
        est, wdesc = LearnedQuality(model=QualityModel(QAConfig(), device="cpu")), "random init (no weights file)"
    cfg = est.model.cfg

    backend = make_backend(args.backend)
    marked = [i for i, s in enumerate(scribble["scribbles"]) if s][0]
    backend.reset(seq, frames, n_obj)
    t0 = time.perf_counter()
    pred = backend.interact(scribble, marked)
    t_backend = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = pred.probs if pred.has_probs else None
    t_probs = time.perf_counter() - t0

    est.reset(seq, frames, n_obj)
    est.estimate(frames, pred)  # warm-up
    t_crop, t_net, t_est = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        crops, _, _, boxes = object_crops(frames, labels=pred.labels, probs=pred.probs if pred.has_probs else None,
                                          size=cfg.crop_size, n_objects=n_obj, return_boxes=True)
        geom = crop_geometry(boxes, frames.shape[1], frames.shape[2])
        t1 = time.perf_counter()
        est.model.predict_crops(crops, geom)
        t2 = time.perf_counter()
        est.estimate(frames, pred)
        t3 = time.perf_counter()
        t_crop.append(t1 - t0), t_net.append(t2 - t1), t_est.append(t3 - t2)
    T, H, W = pred.labels.shape
    res = {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
           "dataset": str(ds.root), "sequence": seq, "frames": T, "height": H, "width": W, "objects": n_obj,
           "weights": wdesc, "depth": cfg.depth, "input_size": cfg.input_size, "crop_size": cfg.crop_size,
           "backend": args.backend, "backend_round1_s": round(t_backend, 3),
           "backend_lazy_probs_s": round(t_probs, 3),
           "qa_crops_s": round(float(np.median(t_crop)), 3), "qa_net_s": round(float(np.median(t_net)), 3),
           "qa_estimate_s": round(float(np.median(t_est)), 3)}
    res["qa_over_backend"] = round(res["qa_estimate_s"] / t_backend, 3)
    res["qa_plus_probs_over_backend"] = round((res["qa_estimate_s"] + t_probs) / t_backend, 3)
    print(f"{seq}: {T} frames {W}x{H}, {n_obj} object(s); QA ResNet-{cfg.depth} @ {cfg.input_size}px "
          f"({wdesc}), CPU, {res['torch_threads']} torch threads")
    print(f"  backend '{args.backend}' round 1 interact : {t_backend:7.3f} s")
    print(f"  backend lazy full-res probabilities   : {t_probs:7.3f} s  ({t_probs / t_backend:.2f} x backend)")
    print(f"  QA crops (all frames)                 : {res['qa_crops_s']:7.3f} s")
    print(f"  QA network (all frames)               : {res['qa_net_s']:7.3f} s")
    print(f"  QA estimate total (median of {args.repeats})     : {res['qa_estimate_s']:7.3f} s  "
          f"({res['qa_over_backend']:.2f} x backend; {res['qa_plus_probs_over_backend']:.2f} x with probs)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
