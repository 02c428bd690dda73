"""Corrupted ground truth: extra QA training samples with a wide, known range of quality.

A backend run on a few training videos gives masks of a narrow, video-specific quality (the classic
backend on ``bmx-bumps`` is always poor, on ``surf`` always good), so a network trained on those
alone learns to recognise the *video* rather than to judge how well the *mask fits the image*.
Corrupting the true mask of a training frame in the ways propagation fails gives, per frame, masks of
every quality with an exact label, and forces the network to compare mask and image.

Each corruption is 1 (p = 1/2), 2 or 3 of these, applied in random order to the true mask of one object:

- ``time``: the object's true mask of another frame (``+-1..8`` frames), i.e. drift/lag;
- ``morph``: erosion or dilation by 1-20 px, small radii likelier (a mask too tight or too loose);
- ``shift``: translation by up to 30 % of the object's box, small shifts likelier;
- ``affine``: scale 0.8-1.2 and rotation +-15 degrees about the object's centre;
- ``blobs``: 1-4 random ellipses added near the object (false positives, often background
  of similar colour) or cut out of it (missed parts);
- ``wobble``: a smooth random displacement field (boundary noise of 1-8 px);
- ``identity`` with probability ``p_clean``: the true mask itself (J&F near 1).

The mask becomes a soft probability map the way a propagating backend's looks: a Gaussian blur of
sigma 0-3 px, sometimes with a lowered confidence (``0.5 + c (p - 0.5)``, c in 0.55-1). The label is
davisinteractive's J&F of the hard mask (probability > 0.5) against the true mask, as for backend
samples, and the crop is cut around the corrupted mask's box exactly as at inference. Chunks are
written as ``<sequence>__corrupt__s<seed>.npz`` in the format of :mod:`.samples` (``round`` = 0).
"""
from __future__ import annotations

import json
import time
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from .model import object_crops
from ..jf import per_frame_jf

KINDS = ("time", "morph", "shift", "affine", "blobs", "wobble")


def _ellipse(shape, rng, cy, cx, ry, rx):
    import cv2

    m = np.zeros(shape, np.uint8)
    cv2.ellipse(m, (int(cx), int(cy)), (max(1, int(rx)), max(1, int(ry))), float(rng.uniform(0, 180)),
                0, 360, 1, -1)
    return m.astype(bool)


def corrupt_mask(masks_k: np.ndarray, t: int, rng: np.random.Generator, p_clean: float = 0.05) -> np.ndarray:
    """A corrupted version of ``masks_k[t]`` (bool [H, W]); ``masks_k`` is the object's mask in every frame."""
    import cv2

    T, H, W = masks_k.shape
    m = masks_k[t].copy()
    if rng.random() < p_clean:
        return m
    kinds = rng.choice(KINDS, size=int(rng.choice([1, 1, 2, 3])), replace=False)
    for kind in kinds:
        ys, xs = np.nonzero(m)
        if ys.size == 0:
            break
        cy, cx = ys.mean(), xs.mean()
        bh, bw = int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1
        if kind == "time":
            d = int(rng.integers(1, 9)) * (1 if rng.random() < 0.5 else -1)
            s = int(np.clip(t + d, 0, T - 1))
            if s != t and masks_k[s].any():
                m = masks_k[s].copy()
        elif kind == "morph":
            r = int(np.ceil(rng.uniform(0, 1) ** 2 * 20))
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            op = cv2.erode if rng.random() < 0.5 else cv2.dilate
            m2 = op(m.astype(np.uint8), k).astype(bool)
            m = m2 if m2.any() else m
        elif kind == "shift":
            dy, dx = rng.uniform(-1, 1, 2) ** 3 * 0.3 * np.array([bh, bw])
            M = np.float32([[1, 0, dx], [0, 1, dy]])
            m = cv2.warpAffine(m.astype(np.uint8), M, (W, H), flags=cv2.INTER_NEAREST).astype(bool)
        elif kind == "affine":
            M = cv2.getRotationMatrix2D((float(cx), float(cy)), float(rng.uniform(-15, 15)),
                                        float(rng.uniform(0.8, 1.2)))
            m = cv2.warpAffine(m.astype(np.uint8), M, (W, H), flags=cv2.INTER_NEAREST).astype(bool)
        elif kind == "blobs":
            add = rng.random() < 0.5
            for _ in range(int(rng.integers(1, 5))):
                if add:
                    y, x = cy + rng.uniform(-1, 1) * bh, cx + rng.uniform(-1, 1) * bw
                else:
                    i = int(rng.integers(ys.size))
                    y, x = ys[i], xs[i]
                e = _ellipse((H, W), rng, y, x, rng.uniform(0.03, 0.25) * bh, rng.uniform(0.03, 0.25) * bw)
                m = (m | e) if add else (m & ~e)
        elif kind == "wobble":
            amp = rng.uniform(1, 8)
            gh, gw = max(2, H // 48), max(2, W // 48)
            f = rng.normal(0, 1, (2, gh, gw)).astype(np.float32)
            fy = cv2.resize(f[0], (W, H), interpolation=cv2.INTER_CUBIC) * amp
            fx = cv2.resize(f[1], (W, H), interpolation=cv2.INTER_CUBIC) * amp
            gy, gx = np.mgrid[0:H, 0:W].astype(np.float32)
            m = cv2.remap(m.astype(np.uint8), gx + fx, gy + fy, cv2.INTER_NEAREST).astype(bool)
    return m


def soften(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Probability map (float32 [H, W]) whose > 0.5 region is (about) ``mask``."""
    import cv2

    p = mask.astype(np.float32)
    sigma = rng.uniform(0, 3)
    if sigma > 0.3:
        p = cv2.GaussianBlur(p, (0, 0), sigma)
    if rng.random() < 0.3:
        p = 0.5 + rng.uniform(0.55, 1.0) * (p - 0.5)
    return p


def corrupt_chunk(dataset, sequence: str, seed: int = 0, per_frame: int = 3, size: int = 128,
                  p_clean: float = 0.05) -> dict:
    """``per_frame`` corrupted samples of every object in every frame of ``sequence``."""
    frames, gt = dataset.frames(sequence), dataset.masks(sequence)
    K = int(dataset.sequences[sequence]["num_objects"])
    T = len(frames)
    rng = np.random.default_rng([seed, zlib.crc32(f"{sequence}/corrupt".encode())])
    t0 = time.perf_counter()
    crops, jf, fr, ob, rd, bx = [], [], [], [], [], []
    for k in range(1, K + 1):
        masks_k = gt == k
        for rep in range(per_frame):
            labels = np.zeros_like(gt)
            probs = np.zeros((K + 1,) + gt.shape, np.float32)
            for t in range(T):
                if not masks_k[t].any():
                    continue
                p = soften(corrupt_mask(masks_k, t, rng, p_clean), rng)
                probs[k, t] = p
                labels[t][p > 0.5] = k
            ids = [t for t in range(T) if masks_k[t].any() and (labels[t] == k).any()]
            if not ids:
                continue
            c, index, _, boxes = object_crops(frames, labels=labels, probs=probs, size=size, n_objects=K,
                                              frame_ids=ids, return_boxes=True)
            keep = index[:, 1] == k - 1
            j, f = per_frame_jf(gt, labels, K)
            q = 0.5 * (j + f)
            crops.append(c[keep])
            bx.append(boxes[keep].astype(np.int16))
            jf.append(q[index[keep, 0], index[keep, 1]].astype(np.float32))
            fr.append(index[keep, 0].astype(np.int16))
            ob.append(index[keep, 1].astype(np.int16))
            rd.append(np.zeros(int(keep.sum()), np.int16))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    meta = {"sequence": sequence, "policy": "corrupt", "seed": seed, "rounds": 0, "size": size,
            "per_frame": per_frame, "p_clean": p_clean, "n_frames": T, "n_objects": K,
            "height": int(frames.shape[1]), "width": int(frames.shape[2]), "backend": "corrupt",
            "annotated": [], "seconds": round(time.perf_counter() - t0, 2)}
    return {"crops": np.concatenate(crops) if crops else np.zeros((0, size, size, 4), np.uint8),
            "jf": cat(jf, np.float32), "frame": cat(fr, np.int16), "obj": cat(ob, np.int16),
            "round": cat(rd, np.int16), "box": np.concatenate(bx) if bx else np.zeros((0, 4), np.int16),
            "empty_jf": np.zeros(0, np.float32), "meta": np.array(json.dumps(meta))}


def generate_corrupted(dataset="davis16-train", out_dir="/tmp/qa-data", sequences: Iterable[str] | None = None,
                       per_frame: int = 3, size: int = 128, seed: int = 0, shard: tuple[int, int] = (0, 1),
                       p_clean: float = 0.05, progress: bool = True) -> list[Path]:
    """Write (resumably) one corrupted-GT chunk per sequence into ``out_dir``; returns the chunk files."""
    from .. import compat
    from ..data.davis_layout import open_dataset
    from .samples import chunk_files, chunk_name, write_chunk

    compat.apply()
    ds = open_dataset(dataset, sequences=sequences, check=False)
    seqs = ds.select(None, sequences)
    seqs = [s for i, s in enumerate(seqs) if i % shard[1] == shard[0]]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in seqs if not (out / chunk_name(s, "corrupt", seed)).exists()]
    bar = None
    if progress:
        from ..progress import make_bar

        bar = make_bar("corrupt")
        bar.start()
        task = bar.add_task("", total=len(seqs), completed=len(seqs) - len(todo))
    try:
        for s in todo:
            if bar is not None:
                bar.update(task, description=s)
            write_chunk(out / chunk_name(s, "corrupt", seed), corrupt_chunk(ds, s, seed, per_frame, size, p_clean))
            if bar is not None:
                bar.update(task, advance=1)
    finally:
        if bar is not None:
            bar.stop()
    return [f for f in chunk_files(out) if f.name.endswith(f"__corrupt__s{seed}.npz")]
