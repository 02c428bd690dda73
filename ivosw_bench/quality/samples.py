"""Training data of the QA network: (crop, true J&F) per (frame, object) of real backend predictions.

For every (sequence, policy) *chunk* an :class:`~ivosw_bench.episode.Episode` runs the backend
(``keep_outputs=True``) with davisinteractive's robot for ``rounds`` rounds; the next frame of each
round is chosen by the chunk's policy:

- ``worst-oracle``: argmin of the true per-frame J&F among frames not annotated yet (what a good
  recommender asks for: the predictions the QA net will actually be asked about);
- ``random``: uniform frame (seeded per chunk), repeats allowed;
- ``linspace``: evenly spaced from the first annotated frame, no repeats;
- ``mix``: worst-oracle or random with probability 1/2 each round.

After each round every ``frame_stride``-th frame (offset by the round, so that all frames are covered)
gives one sample per object: the uint8 crop ``[S, S, 4]`` of :func:`~ivosw_bench.quality.model.object_crops`
and the object's true J&F in that frame (``Outcome.jf_objects``). Objects with no predicted pixel
have no crop: only their true J&F is kept (``empty_jf``) to set the checkpoint's ``empty_quality``.
Round 1 does not depend on the policy, so only the first policy of the list keeps its round-1 samples.

One compressed ``<sequence>__<policy>__s<seed>.npz`` per chunk (written atomically): ``crops``
uint8 [N, S, S, 4], ``jf`` float32 [N], ``frame``/``obj``/``round`` int16 [N], ``box`` int16 [N, 4]
(the crop's box y0, y1, x0, x1 in pixels), ``empty_jf`` float32, and a JSON ``meta`` string (with the
frames' ``height`` and ``width``). Existing chunks are skipped, so a killed generation resumes.
"""
from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..files import atomic_open, write_json
from .base import QualityError
from .model import object_crops

POLICIES = ("worst-oracle", "random", "linspace", "mix")
#: held-out sequences of davis16-train for the shipped weights (shared with other work)
HELDOUT_DAVIS16 = ("bear", "boat", "car-turn", "dance-jump", "kite-walk", "tennis")


def chunk_name(sequence: str, policy: str, seed: int) -> str:
    return f"{sequence}__{policy}__s{seed}.npz"


def choose_frame(policy: str, jf_frames: np.ndarray, history: np.ndarray, annotated: list[int], t: int,
                 rounds: int, rng: np.random.Generator) -> int:
    """The next frame to annotate after round ``t`` (1-based) under ``policy``."""
    n = len(jf_frames)
    free = np.flatnonzero(history == 0)
    if free.size == 0:
        free = np.arange(n)
    if policy == "mix":
        policy = "worst-oracle" if rng.random() < 0.5 else "random"
    if policy == "worst-oracle":
        return int(free[int(np.argmin(jf_frames[free]))])
    if policy == "random":
        return int(rng.integers(n))
    if policy == "linspace":
        target = (annotated[0] + int(round(t * n / max(1, rounds)))) % n
        dist = np.minimum(np.abs(free - target), n - np.abs(free - target))
        return int(free[np.lexsort((-free, dist))[0]])
    raise ValueError(f"unknown policy '{policy}' (known: {', '.join(POLICIES)})")


@dataclass
class ChunkSpec:
    sequence: str
    policy: str
    seed: int
    keep_first_round: bool


def plan_chunks(sequences: Iterable[str], policies: Iterable[str], seed: int = 0) -> list[ChunkSpec]:
    """Chunks ordered policy-major (every sequence gets its first policy before any gets the second),
    so that a generation stopped early still covers all sequences."""
    policies = list(policies)
    for p in policies:
        if p not in POLICIES:
            raise ValueError(f"unknown policy '{p}' (known: {', '.join(POLICIES)})")
    return [ChunkSpec(s, p, seed, i == 0) for i, p in enumerate(policies) for s in sequences]


def generate_chunk(dataset, spec: ChunkSpec, backend, rounds: int = 8, size: int = 128,
                   frame_stride: int = 1, on_round: Callable | None = None) -> dict:
    """Run one episode and return the chunk's arrays (see module doc)."""
    from ..episode import Episode, load_sample

    frames, gt, scribble = load_sample(dataset, spec.sequence)
    n_obj = int(dataset.sequences[spec.sequence]["num_objects"])
    ep = Episode(backend, spec.sequence, frames, gt, n_obj, scribble, keep_outputs=True)
    rng = np.random.default_rng([spec.seed, zlib.crc32(f"{spec.sequence}/{spec.policy}".encode())])
    T = len(frames)
    history = np.zeros(T, np.int64)
    history[ep.initial_frame] += 1
    annotated = [ep.initial_frame]
    crops, jf, fr, ob, rd, bx, empty_jf = [], [], [], [], [], [], []
    t0 = time.perf_counter()
    out = ep.reset()
    for t in range(1, rounds + 1):
        if t > 1 or spec.keep_first_round:
            ids = list(range((t - 1) % frame_stride, T, frame_stride))
            pred = out.probs
            c, index, empty, boxes = object_crops(frames, labels=np.asarray(pred.labels),
                                                  probs=pred.probs if pred.has_probs else None,
                                                  size=size, n_objects=n_obj, frame_ids=ids, return_boxes=True)
            crops.append(c)
            bx.append(boxes.astype(np.int16))
            jf.append(out.jf_objects[index[:, 0], index[:, 1]].astype(np.float32))
            fr.append(index[:, 0].astype(np.int16))
            ob.append(index[:, 1].astype(np.int16))
            rd.append(np.full(len(index), t, np.int16))
            ids_arr = np.asarray(ids)
            e = empty[ids_arr]
            empty_jf.append(out.jf_objects[ids_arr][e].astype(np.float32))
        if on_round:
            on_round(t, out.jf)
        if t == rounds:
            break
        choice = choose_frame(spec.policy, out.jf_frames, history, annotated, t, rounds, rng)
        history[choice] += 1
        annotated.append(choice)
        out = ep.step(choice)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    meta = {"sequence": spec.sequence, "policy": spec.policy, "seed": spec.seed, "rounds": rounds,
            "size": size, "frame_stride": frame_stride, "n_frames": T, "n_objects": n_obj,
            "height": int(frames.shape[1]), "width": int(frames.shape[2]), "backend": backend.name, "annotated": annotated, "seconds": round(time.perf_counter() - t0, 2)}
    return {"crops": np.concatenate(crops) if crops else np.zeros((0, size, size, 4), np.uint8),
            "jf": cat(jf, np.float32), "frame": cat(fr, np.int16), "obj": cat(ob, np.int16),
            "round": cat(rd, np.int16), "box": np.concatenate(bx) if bx else np.zeros((0, 4), np.int16),
            "empty_jf": cat(empty_jf, np.float32), "meta": np.array(json.dumps(meta))}


def write_chunk(path: Path, arrays: dict) -> None:
    """Write atomically: into ``<name>.partial`` (which :func:`chunk_files` never lists), then rename."""
    with atomic_open(path, "wb", fsync=False) as fh:
        np.savez_compressed(fh, **arrays)


def chunk_files(data_dir) -> list[Path]:
    """The finished chunk files of ``data_dir``, sorted (a generation may be writing others meanwhile)."""
    return sorted(f for f in Path(data_dir).glob("*__*__s*.npz") if not f.name.endswith(".tmp.npz"))


def generate_samples(dataset="davis16-train", out_dir="/tmp/qa-data", sequences: list[str] | None = None,
                     backend: str = "classic", policies: Iterable[str] = ("worst-oracle", "random", "linspace"),
                     rounds: int = 8, size: int = 128, frame_stride: int = 1, seed: int = 0,
                     shard: tuple[int, int] = (0, 1), time_budget_s: float | None = None,
                     progress: bool = True, backend_options: dict | None = None,
                     jobs: int = 1) -> list[Path]:
    """Generate (resumably) the QA training chunks of ``sequences`` (default: all) into ``out_dir``.

    ``jobs`` > 1 makes the chunks in parallel worker processes (:mod:`ivosw_bench.executors`);
    ``shard=(i, n)`` takes every n-th pending chunk starting at i (processes on several machines);
    ``time_budget_s`` stops starting new chunks after that many seconds. Returns the chunk files present.
    """
    from .. import compat
    from ..data.davis_layout import open_dataset
    from ..registry import make_backend

    compat.apply()
    ds = open_dataset(dataset, sequences=sequences, check=False)
    seqs = ds.select(None, sequences)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = plan_chunks(seqs, policies, seed)
    specs = [s for i, s in enumerate(specs) if i % shard[1] == shard[0]]
    todo = [s for s in specs if not (out / chunk_name(s.sequence, s.policy, s.seed)).exists()]
    if jobs > 1 and todo:
        _parallel_chunks(ds, todo, backend, backend_options, rounds, size, frame_stride, out, jobs, progress)
        todo = []
    be = make_backend(backend, **(backend_options or {}))
    start = time.perf_counter()
    bar = None
    if progress:
        from ..progress import make_bar

        bar = make_bar("qa-samples")
        bar.start()
        task = bar.add_task("", total=len(specs) * rounds, completed=(len(specs) - len(todo)) * rounds)
    try:
        for spec in todo:
            if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                break

            def on_round(t, jf, spec=spec):
                if bar is not None:
                    bar.update(task, advance=1, description=f"{spec.sequence} {spec.policy} round {t} J&F {jf:.3f}")

            arrays = generate_chunk(ds, spec, be, rounds=rounds, size=size, frame_stride=frame_stride,
                                    on_round=on_round)
            write_chunk(out / chunk_name(spec.sequence, spec.policy, spec.seed), arrays)
    finally:
        if bar is not None:
            bar.stop()
    info = {"dataset": str(ds.root), "backend": backend, "policies": list(policies), "rounds": rounds,
            "size": size, "frame_stride": frame_stride, "seed": seed}
    write_json(out / "generation.json", info)
    return chunk_files(out)


def _chunk_task(root: str, spec: "ChunkSpec", backend: str, options: dict | None, rounds: int, size: int,
                frame_stride: int, out: str) -> str:
    from ..data.davis_layout import open_dataset
    from ..registry import make_backend

    ds = open_dataset(root, sequences=[spec.sequence], check=False)
    arrays = generate_chunk(ds, spec, make_backend(backend, **(options or {})), rounds=rounds, size=size,
                            frame_stride=frame_stride)
    path = Path(out) / chunk_name(spec.sequence, spec.policy, spec.seed)
    write_chunk(path, arrays)
    return str(path)


def _parallel_chunks(ds, todo, backend, options, rounds, size, frame_stride, out: Path, jobs: int, progress) -> None:
    from ..executors import make_executor

    tasks = [(str(ds.root), s, backend, options, rounds, size, frame_stride, str(out)) for s in todo]
    bar = None
    if progress:
        from ..progress import make_bar

        bar = make_bar("qa-samples")
        bar.start()
        task = bar.add_task("", total=len(tasks))
    try:
        with make_executor("local", jobs) as ex:
            for _, path in ex.map_unordered(_chunk_task, tasks):
                if bar is not None:
                    bar.update(task, advance=1, description=Path(path).name)
    finally:
        if bar is not None:
            bar.stop()


def load_chunks(data_dir, sequences: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                mmap: bool = False) -> dict:
    """Concatenate the chunks of ``data_dir`` (optionally only / all but some sequences).

    Returns ``crops, jf, frame, obj, round`` arrays, ``seq`` (sequence index per sample),
    ``sequences`` (names), ``chunk`` (index into ``metas`` per sample), ``empty_jf``, ``metas`` and ``geometry``
    (:func:`~ivosw_bench.quality.model.crop_geometry` [N, 2], or ``None`` when a chunk predates boxes).
    """
    from .model import crop_geometry

    files = chunk_files(data_dir)
    want = set(sequences) if sequences is not None else None
    skip = set(exclude or ())
    parts: dict[str, list] = {k: [] for k in ("crops", "jf", "frame", "obj", "round", "seq", "chunk", "empty_jf")}
    geometry: list | None = []
    names: list[str] = []
    metas = []
    for f in files:
        seq = f.name.split("__")[0]
        if (want is not None and seq not in want) or seq in skip:
            continue
        with np.load(f) as z:
            meta = json.loads(str(z["meta"]))
            if seq not in names:
                names.append(seq)
            for k in ("crops", "jf", "frame", "obj", "round", "empty_jf"):
                parts[k].append(z[k])
            parts["seq"].append(np.full(len(z["jf"]), names.index(seq), np.int16))
            parts["chunk"].append(np.full(len(z["jf"]), len(metas), np.int32))
            if geometry is not None and "box" in z.files and "height" in meta:
                geometry.append(crop_geometry(z["box"], meta["height"], meta["width"]))
            else:
                geometry = None
            metas.append(meta)
    if not metas:
        raise QualityError(f"{data_dir}: no QA sample chunks"
                                + (f" for sequences {sorted(want)}" if want is not None else ""))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["sequences"], out["metas"] = names, metas
    out["geometry"] = np.concatenate(geometry) if geometry is not None else None
    return out


def from_backend(data: dict) -> np.ndarray:
    """bool [N]: samples of a backend's predictions (not corrupted ground truth) in :func:`load_chunks` data."""
    real = np.asarray([m.get("policy") != "corrupt" for m in data["metas"]], bool)
    return real[data["chunk"]]
