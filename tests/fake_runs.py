"""Run folders built by hand for the leaderboard, report and timeline tests (no backend, no data).

A run is ``config.json`` + ``summary.json`` (+ ``report.csv``, optionally ``quality.csv`` and
``chosen/`` masks) in the layout the run store writes; per-sample curves are given explicitly so
that every statistic can be computed by hand in the tests.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ivosw_bench.results.metrics import round_auc


def run_id(strategy: str, seed, setting: str = "oracle", rounds: int = 3, dataset: str = "synthetic",
           backend: str = "classic") -> str:
    return f"{dataset}_{backend}_{strategy.replace(':', '-')}_{setting}_T{rounds}_seed{seed}"


def make_run(root: Path, strategy: str, curves: dict[tuple[str, int], list[float]], *, seed=0,
             setting: str = "oracle", backend: str = "classic", dataset: str = "synthetic",
             complete: bool = True, timing: float = 1.0, n_frames: int = 6, report: bool = True,
             config: bool = True, name: str | None = None, extra_config: dict | None = None,
             recommended: dict[tuple[str, int], list[int]] | None = None, dataset_root: str = "/nowhere") -> Path:
    """A run folder under ``root`` whose sample (seq, idx) has J&F ``curves[(seq, idx)][t-1]`` after
    round t (every frame and object of the round gets that value in report.csv)."""
    rounds = len(next(iter(curves.values())))
    rid = name or run_id(strategy, seed, setting, rounds, dataset, backend)
    folder = Path(root) / rid
    folder.mkdir(parents=True)
    samples, rows = [], []
    for k, ((seq, idx), jf) in enumerate(sorted(curves.items())):
        rec = (recommended or {}).get((seq, idx), [(t * 2) % n_frames for t in range(1, rounds + 1)])
        samples.append({"sequence": seq, "scribble_idx": idx, "n_frames": n_frames, "n_objects": 1,
                        "per_round_jf": list(jf), "round_auc": round_auc(jf), "final_jf": jf[-1],
                        "annotated_frames": [0] + rec[:-1], "recommended_frames": rec})
        for t, v in enumerate(jf, 1):
            for f in range(n_frames):
                rows.append(f"{seq},{idx},{t},1,{f},{v},{v},{v},{timing + 0.1 * k}")
    curve = np.mean([s["per_round_jf"] for s in samples], axis=0)
    summary = {
        "run_id": rid, "strategy": strategy, "backend": backend, "dataset": dataset, "setting": setting,
        "rounds": rounds, "seed": seed, "n_samples": len(samples), "n_samples_total": len(samples) + (0 if complete else 1),
        "complete": complete,
        "metrics": {"round_auc": round_auc(curve), "time_auc": 0.5, "jf_at_60s": 0.6, "final_jf": float(curve[-1]),
                    "per_round_jf": [float(v) for v in curve],
                    "seconds_per_round": {"backend": 1.0, "quality": 0.2, "strategy": 0.01, "eval": 0.5, "total": 1.71}},
        "per_sample": samples,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    if config:
        cfg = {"run_id": rid, "strategy": strategy, "backend": backend, "dataset_name": dataset,
               "dataset_root": dataset_root, "sequences": sorted({s for s, _ in curves}), "setting": setting,
               "rounds": rounds, "seed": seed, "strategy_options": {}, "backend_options": {},
               "quality_weights": None, "robot_seed": 0, "subset": None, "git_commit": "abc",
               "versions": {"ivosw-bench": "0.1.0"}, "n_samples": len(samples)}
        cfg.update(extra_config or {})
        (folder / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    if report:
        header = "sequence,scribble_idx,interaction,object_id,frame,jaccard,contour,j_and_f,timing\n"
        (folder / "report.csv").write_text(header + "\n".join(rows) + "\n")
    return folder


def write_quality(folder: Path, quality: dict[tuple[str, int], np.ndarray]) -> None:
    """``quality.csv`` from arrays [T, n_frames] per sample."""
    lines = ["sequence,scribble_idx,round,frame,quality"]
    for (seq, idx), q in sorted(quality.items()):
        for t, row in enumerate(q, 1):
            lines += [f"{seq},{idx},{t},{f},{float(v)!r}" for f, v in enumerate(row)]
    (Path(folder) / "quality.csv").write_text("\n".join(lines) + "\n")


def write_chosen(folder: Path, seq: str, idx: int, recommended: list[int], size=(64, 48)) -> None:
    """``chosen/<seq>-<idx>/round<t>-frame<f>.png``: an 8-bit label map with object 1 as a square."""
    w, h = size
    d = Path(folder) / "chosen" / f"{seq}-{idx:03d}"
    d.mkdir(parents=True, exist_ok=True)
    for t, f in enumerate(recommended, 1):
        labels = np.zeros((h, w), np.uint8)
        labels[10:30, 20:40] = 1
        Image.fromarray(labels, mode="L").save(d / f"round{t:02d}-frame{f:05d}.png")


def write_frames(dataset_root: Path, seq: str, n_frames: int, size=(64, 48)) -> None:
    w, h = size
    d = Path(dataset_root) / "JPEGImages" / "480p" / seq
    d.mkdir(parents=True, exist_ok=True)
    for f in range(n_frames):
        img = np.full((h, w, 3), 40 + 20 * f, np.uint8)
        Image.fromarray(img).save(d / f"{f:05d}.jpg", quality=95)
