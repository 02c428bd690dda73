"""The project's embedded default dataset: small synthetic videos in the DAVIS folder layout.

:func:`generate` writes, deterministically from a seed, a complete folder that davisinteractive and
the rest of ivosw-bench read like real DAVIS data::

    ROOT/JPEGImages/480p/synth-000/00000.jpg ...   RGB frames (JPEG quality 92)
    ROOT/Annotations/480p/synth-000/00000.png ...  palette masks, 0 background, 1..K objects
    ROOT/Scribbles/synth-000/001.json              initial scribble drawn by davisinteractive's robot
    ROOT/ImageSets/2017/train.txt                  every sequence
    ROOT/sequences.json                            davis.json-style metadata per sequence
    ROOT/synthetic.json                            generator parameters and per-object ground facts
    ROOT/README.txt                                how the folder was made

Each sequence shows 1-3 textured blob objects (random radial-function shapes that rotate, scale and
deform, with drifting brightness/hue and blended textures) moving along smooth random trajectories
over a textured background seen by a slowly panning camera. Objects occlude each other (fixed depth
order; every mask pixel carries the front object's id) and are steered to cross so occlusions happen.
Sequence 0 (and, at random, some others) has an object that leaves the frame entirely and re-enters
later; its mask is empty in between (listed under ``absent_frames`` in ``synthetic.json``).

Same seed and parameters give byte-identical files. The folder is written into a hidden temporary
sibling and renamed into place at the end, so an interrupted run leaves no half dataset.
"""
from __future__ import annotations

import colorsys
import json
import math
import os
import shutil
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DatasetError

GENERATOR_VERSION = 1
GENERATED_BY = "ivosw-bench synthetic robot"
PARAMS_FILE = "synthetic.json"
JPEG_QUALITY = 92
ROBOT_FRAME_TRIES = 6
SEQUENCE_ATTEMPTS = 4

ProgressFn = Callable[[int, int, str], None]


def davis_palette() -> bytes:
    """The standard DAVIS/PASCAL-VOC palette (768 bytes): 0 black, 1 (128,0,0), 2 (0,128,0), ..."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal.tobytes()


DAVIS_PALETTE = davis_palette()


# ----------------------------------------------------------------------------------------- textures
def _noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth value noise (zero mean, unit std) with features about ``cell`` pixels wide."""
    import cv2

    cell = max(1.0, float(cell))
    gh, gw = int(h / cell) + 4, int(w / cell) + 4
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(small, (int(round(gw * cell)), int(round(gh * cell))),
                     interpolation=cv2.INTER_CUBIC)
    off = int(round(cell))
    out = big[off:off + h, off:off + w]
    return (out - out.mean()) / (out.std() + 1e-6)


def _fbm(rng, h, w, cells, weights=None) -> np.ndarray:
    """Sum of noise octaves rescaled to [0, 1]."""
    weights = weights or [0.5 ** i for i in range(len(cells))]
    acc = sum(wt * _noise(rng, h, w, c) for c, wt in zip(cells, weights))
    lo, hi = np.percentile(acc, [1, 99])
    return np.clip((acc - lo) / (hi - lo + 1e-6), 0, 1).astype(np.float32)


def _smoothstep(a, b, x):
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


def _mix(c0, c1, t):
    t = t[..., None]
    return np.asarray(c0, np.float32) * (1 - t) + np.asarray(c1, np.float32) * t


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def _hue_matrix(angle: float) -> np.ndarray:
    """Rotation of RGB around the grey axis by ``angle`` radians (a hue shift)."""
    c, s, k = math.cos(angle), math.sin(angle), 1 / 3
    q = math.sqrt(k) * s
    return np.array([[c + (1 - c) * k, k * (1 - c) - q, k * (1 - c) + q],
                     [k * (1 - c) + q, c + k * (1 - c), k * (1 - c) - q],
                     [k * (1 - c) - q, k * (1 - c) + q, c + k * (1 - c)]], dtype=np.float32)


def _background(rng, h, w, colours) -> np.ndarray:
    c0, c1, c2 = colours
    t1 = _fbm(rng, h, w, [h / 2.5, h / 8, 6])
    t2 = _fbm(rng, h, w, [h / 4, h / 12])
    img = _mix(c0, c1, _smoothstep(0.3, 0.7, t1))
    img = _mix(img, c2, _smoothstep(0.55, 0.75, t2))
    detail = _fbm(rng, h, w, [5, 2])
    img *= (0.8 + 0.4 * detail)[..., None]
    if rng.random() < 0.5:  # faint planks / tiles
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        beta = rng.uniform(0, math.pi)
        period = rng.uniform(18, 40)
        stripes = np.sin(2 * math.pi * (xx * math.cos(beta) + yy * math.sin(beta)) / period)
        img *= (1 + 0.08 * stripes)[..., None]
    return img


def _object_texture(rng, size, c1, c2, kind) -> np.ndarray:
    if kind == "stripes":
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        beta = rng.uniform(0, math.pi)
        period = rng.uniform(6, 14)
        warp = 3 * _noise(rng, size, size, size / 4)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(beta) + yy * math.sin(beta)) / period
                               + warp)
    elif kind == "spots":
        t = _smoothstep(0.5, 0.62, _fbm(rng, size, size, [size / 8, 3]))
    else:
        t = _fbm(rng, size, size, [size / 3, size / 8, 3])
    tex = _mix(c1, c2, t)
    tex *= (0.85 + 0.3 * _fbm(rng, size, size, [3, 1.5]))[..., None]
    return tex


# ------------------------------------------------------------------------------------ scene design
class _Object:
    """One object's shape, texture and motion, all functions of normalised time tau in [0, 1]."""

    def __init__(self, rng, w, h, bg_colours):
        m = min(w, h)
        self.radius = rng.uniform(0.13, 0.22) * m
        self.harm_k = np.arange(2, 6)
        self.harm_a = rng.uniform(0, 1, 4) * np.array([0.22, 0.12, 0.08, 0.05])
        self.harm_phase = rng.uniform(0, 2 * math.pi, 4)
        self.harm_da = rng.uniform(0.02, 0.06, 4)
        self.harm_f = rng.uniform(0.5, 2.0, 4)
        self.harm_dphase = rng.uniform(0, 2 * math.pi, 4)
        # motion
        self.c0 = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.35, 0.65) * h])
        self.amp = rng.uniform(0.03, 0.12, (2, 2)) * np.array([w, h])
        self.freq = rng.uniform(0.3, 1.3, (2, 2))
        self.phase = rng.uniform(0, 2 * math.pi, (2, 2))
        self.drift = rng.uniform(-0.25, 0.25, 2) * np.array([w, h * 0.5])
        self.scale_amp = rng.uniform(0.08, 0.2)
        self.scale_f = rng.uniform(0.4, 1.2)
        self.scale_phase = rng.uniform(0, 2 * math.pi)
        self.scale_trend = rng.uniform(-0.3, 0.3)
        self.theta0 = rng.uniform(0, 2 * math.pi)
        self.omega = rng.uniform(-1.5, 1.5)
        self.wobble_phase = rng.uniform(0, 2 * math.pi)
        # appearance
        hue = rng.uniform(0, 1)
        c1 = _hsv(hue, rng.uniform(0.45, 0.9), rng.uniform(0.45, 0.9))
        # the second colour is often borrowed from the background: colours overlap on purpose
        c2 = (bg_colours[rng.integers(3)] * rng.uniform(0.8, 1.2) if rng.random() < 0.6
              else _hsv(hue + rng.uniform(0.05, 0.2), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8)))
        kind = ["noise", "stripes", "spots"][rng.integers(3)]
        self.extent_factor = 1 + float(np.sum(self.harm_a + self.harm_da))
        max_scale = math.exp(self.scale_amp + abs(self.scale_trend) / 2)
        self.tex_size = int(2 * self.radius * self.extent_factor * 1.05) + 8
        self.tex_a = _object_texture(rng, self.tex_size, c1, c2, kind)
        c1b = _hue_matrix(rng.uniform(-0.6, 0.6)) @ c1
        self.tex_b = _object_texture(rng, self.tex_size, c1b, c2 * rng.uniform(0.8, 1.1), kind)
        self.max_extent = self.radius * self.extent_factor * max_scale
        self.bright_f, self.bright_phase = rng.uniform(0.5, 1.5), rng.uniform(0, 2 * math.pi)
        self.hue_amp = math.radians(rng.uniform(10, 30))
        self.hue_f, self.hue_phase = rng.uniform(0.3, 1.0), rng.uniform(0, 2 * math.pi)
        self.blend_cycles = int(rng.integers(1, 3))
        self.correction = np.zeros(2)
        self.meet_tau, self.meet_sigma = 0.5, 1.0
        self.exit = None  # (tau_start, tau_end, ramp, dx) when the object leaves the frame

    def base_centre(self, tau):
        s = np.sin(2 * math.pi * self.freq * tau + self.phase)  # (2 sinusoids, 2 axes)
        return self.c0 + (self.amp * s).sum(axis=0) + self.drift * (tau - 0.5)

    def centre(self, tau):
        c = self.base_centre(tau)
        c = c + self.correction * math.exp(-((tau - self.meet_tau) / self.meet_sigma) ** 2)
        if self.exit is not None:
            a, b, ramp, dx = self.exit
            bump = float(_smoothstep(a - ramp, a, tau) * (1 - _smoothstep(b, b + ramp, tau)))
            c = c + np.array([dx * bump, 0.0])
        return c

    def pose(self, tau):
        scale = math.exp(self.scale_amp * math.sin(2 * math.pi * self.scale_f * tau + self.scale_phase)
                         + self.scale_trend * (tau - 0.5))
        theta = self.theta0 + self.omega * tau + 0.3 * math.sin(2 * math.pi * tau + self.wobble_phase)
        harm = self.harm_a + self.harm_da * np.sin(2 * math.pi * self.harm_f * tau + self.harm_dphase)
        return self.centre(tau), scale, theta, harm

    def render(self, tau, w, h):
        """(y0, x0, inside mask, alpha, colour) over the object's bounding box, or None if out of view."""
        import cv2

        (cx, cy), scale, theta, harm = self.pose(tau)
        ext = self.radius * self.extent_factor * scale + 2
        x0, x1 = max(0, int(math.floor(cx - ext))), min(w, int(math.ceil(cx + ext)) + 1)
        y0, y1 = max(0, int(math.floor(cy - ext))), min(h, int(math.ceil(cy + ext)) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xx - cx, yy - cy
        ct, st = math.cos(theta), math.sin(theta)
        u = (ct * dx + st * dy) / scale
        v = (-st * dx + ct * dy) / scale
        rho = np.hypot(u, v)
        phi = np.arctan2(v, u)
        r = self.radius * (1 + sum(a * np.cos(k * phi + p) for a, k, p in
                                   zip(harm, self.harm_k, self.harm_phase)))
        inside = rho < r
        if not inside.any():
            return None
        alpha = np.clip((r - rho) * scale + 0.5, 0, 1)  # soft image edge; the mask is rho < r
        blend = 0.5 - 0.5 * math.cos(math.pi * self.blend_cycles * tau)
        tex = ((1 - blend) * self.tex_a + blend * self.tex_b).astype(np.float32)
        half = self.tex_size / 2
        col = cv2.remap(tex, (u + half).astype(np.float32), (v + half).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        shade = 1 - 0.35 * np.clip(rho / np.maximum(r, 1e-3), 0, 1) ** 2
        bright = 1 + 0.15 * math.sin(2 * math.pi * self.bright_f * tau + self.bright_phase)
        hue = self.hue_amp * math.sin(2 * math.pi * self.hue_f * tau + self.hue_phase)
        col = col @ _hue_matrix(hue).T
        col *= (shade * bright)[..., None]
        return y0, x0, inside, alpha, col


def _design(rng, w, h, k, t, with_exit):
    """Background, pan and objects of one sequence; objects are steered to meet (occlusions)."""
    bg_colours = [_hsv(rng.uniform(0, 1), rng.uniform(0.15, 0.6), rng.uniform(0.3, 0.8))
                  for _ in range(3)]
    pad_x, pad_y = int(0.15 * w) + 2, int(0.08 * h) + 2
    bg = _background(rng, h + 2 * pad_y, w + 2 * pad_x, bg_colours)
    pan = dict(pad=(pad_x, pad_y), dir=rng.choice([-1.0, 1.0], 2), amp=rng.uniform(0.4, 0.9, 2),
               f=rng.uniform(0.3, 0.8, 2), phase=rng.uniform(0, 2 * math.pi, 2))
    objects = [_Object(rng, w, h, bg_colours) for _ in range(k)]
    exit_window = None
    exit_obj = None
    if with_exit:
        exit_obj = k - 1
        a = 0.35
        b = 0.6
        ramp = max(0.12, 1.5 / max(t - 1, 1))
        exit_window = (a, b, ramp)
    for i in range(1, k):
        prev, obj = objects[i - 1], objects[i]
        if exit_window is not None:
            obj.meet_tau = float(rng.choice([rng.uniform(0.05, 0.15), rng.uniform(0.85, 0.95)]))
        else:
            obj.meet_tau = float(rng.uniform(0.2, 0.8))
        obj.meet_sigma = 0.22
        ang = rng.uniform(0, 2 * math.pi)
        dist = 0.6 * (prev.radius + obj.radius) * rng.uniform(0.5, 1.0)
        target = prev.centre(obj.meet_tau) + dist * np.array([math.cos(ang), math.sin(ang)])
        obj.correction = target - obj.base_centre(obj.meet_tau)
    if exit_obj is not None:
        obj = objects[exit_obj]
        a, b, ramp = exit_window
        taus = np.linspace(a, b, 32)
        xs = np.array([obj.centre(tt)[0] for tt in taus])
        margin = obj.max_extent + 4
        if xs.mean() > w / 2:  # leave through the nearer edge
            dx = float(np.max(w + margin - xs))
        else:
            dx = -float(np.max(xs + margin))
        obj.exit = (a, b, ramp, dx)
    depth = list(rng.permutation(k))  # back to front
    return bg, pan, objects, depth, exit_obj


def _pan_offset(pan, tau):
    pad = np.array(pan["pad"], dtype=np.float64)
    move = pan["dir"] * pan["amp"] * (2 * tau - 1) * 0.8 + 0.2 * np.sin(
        2 * math.pi * pan["f"] * tau + pan["phase"])
    return pad * (1 + np.clip(move, -1, 1))


def _render_sequence(rng, w, h, k, t, with_exit):
    import cv2

    bg, pan, objects, depth, exit_obj = _design(rng, w, h, k, t, with_exit)
    frames, masks = [], []
    visible = np.zeros((t, k), dtype=np.int64)
    occluded = np.zeros((t, k), dtype=np.int64)
    for fi in range(t):
        tau = fi / max(t - 1, 1)
        ox, oy = _pan_offset(pan, tau)
        m = np.float32([[1, 0, -ox], [0, 1, -oy]])
        img = cv2.warpAffine(bg, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        label = np.zeros((h, w), dtype=np.uint8)
        full = {}
        for oi in depth:
            out = objects[oi].render(tau, w, h)
            if out is None:
                continue
            y0, x0, inside, alpha, col = out
            hh, ww = inside.shape
            region = img[y0:y0 + hh, x0:x0 + ww]
            region[:] = region * (1 - alpha[..., None]) + col * alpha[..., None]
            label[y0:y0 + hh, x0:x0 + ww][inside] = oi + 1
            full[oi] = int(inside.sum())
        img += rng.normal(0, 2.5, img.shape).astype(np.float32)
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
        masks.append(label)
        counts = np.bincount(label.ravel(), minlength=k + 1)
        for oi in range(k):
            visible[fi, oi] = counts[oi + 1]
            occluded[fi, oi] = full.get(oi, 0) - counts[oi + 1]
    return frames, np.stack(masks), visible, occluded, depth, exit_obj


# ------------------------------------------------------------------------------------------ robot
def _robot_scribble(name, masks, visible, k):
    """Robot scribble on the frame where the objects are jointly most visible; None on failure."""
    from .. import compat

    compat.apply()
    from davisinteractive.robot import InteractiveScribblesRobot

    robot = InteractiveScribblesRobot()
    score = visible.min(axis=1)
    order = sorted(range(len(score)), key=lambda f: (-score[f], f))
    gt = masks.astype(np.int64)
    empty = np.zeros_like(gt)
    for f in order[:ROBOT_FRAME_TRIES]:
        if score[f] == 0:
            break
        data = robot.interact(name, empty, gt, nb_objects=k, frame=f)
        strokes = data["scribbles"][f]
        ids = {s["object_id"] for s in strokes}
        if all(o in ids for o in range(1, k + 1)):
            for j, s in enumerate(strokes):  # wall-clock times would break determinism
                s["start_time"] = float(j)
                s["end_time"] = float(j) + 0.5
            return {"scribbles": data["scribbles"], "sequence": name, "annotated_frame": int(f),
                    "generated_by": GENERATED_BY}, int(f)
    return None, None


# ------------------------------------------------------------------------------------------ public
def _params(seed, n_sequences, n_frames, size, max_objects) -> dict:
    return {"generator_version": GENERATOR_VERSION, "seed": int(seed),
            "n_sequences": int(n_sequences), "n_frames": int(n_frames),
            "size": [int(size[0]), int(size[1])], "max_objects": int(max_objects)}


def _is_complete(root: Path, info: dict) -> bool:
    meta_path = root / "sequences.json"
    if not info.get("complete") or not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, RecursionError):
        return False
    for name, entry in meta.items():
        t = entry["num_frames"]
        jpgs = root / "JPEGImages" / "480p" / name
        pngs = root / "Annotations" / "480p" / name
        if not all((jpgs / f"{i:05d}.jpg").is_file() and (pngs / f"{i:05d}.png").is_file()
                   for i in range(t)):
            return False
        if not (root / "Scribbles" / name / "001.json").is_file():
            return False
    return True


def _existing(root: Path, params: dict) -> Optional[dict]:
    """Metadata of a complete dataset at ``root`` made with ``params``; None if root is absent/empty.

    Raises :class:`DatasetError` when ``root`` holds anything else."""
    if not root.exists():
        return None
    if not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a folder; cannot write the synthetic dataset there")
    if not any(root.iterdir()):
        return None
    info_path = root / PARAMS_FILE
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError, RecursionError):
        raise DatasetError(
            f"{root}: folder exists and is not a synthetic ivosw-bench dataset (no readable "
            f"{PARAMS_FILE}); delete it or choose another folder") from None
    if info.get("params") != params:
        raise DatasetError(
            f"{root}: holds a synthetic dataset generated with other parameters "
            f"({info.get('params')}, requested {params}); delete it or choose another folder")
    if not _is_complete(root, info):
        raise DatasetError(
            f"{root}: holds an incomplete synthetic dataset (files are missing); delete it to regenerate")
    return json.loads((root / "sequences.json").read_text())


def _write_json(path: Path, data, indent: Optional[int] = 2) -> None:
    path.write_text(json.dumps(data, indent=indent) + "\n")


def generate(root, seed: int = 0, n_sequences: int = 4, n_frames: int = 30,
             size: tuple[int, int] = (432, 240), max_objects: int = 3,
             progress: Optional[ProgressFn] = None) -> dict:
    """Write the synthetic DAVIS-layout dataset to ``root`` and return its ``sequences.json`` dict.

    ``size`` is (W, H). ``progress(done, total, sequence_name)`` is called after each sequence. If
    ``root`` already holds a complete dataset made with the same parameters nothing is written and its
    metadata is returned; if it holds anything else a :class:`DatasetError` names the folder (one line).
    """
    from PIL import Image

    w, h = int(size[0]), int(size[1])
    if seed < 0:
        raise DatasetError(f"--seed must be >= 0, not {seed}")
    if n_sequences < 1:
        raise DatasetError(f"--n-sequences must be >= 1, not {n_sequences}")
    if n_frames < 2:
        raise DatasetError(f"--frames must be >= 2, not {n_frames}")
    if not 1 <= max_objects <= 20:
        raise DatasetError(f"max_objects must be in 1..20, not {max_objects}")
    if not (32 <= w <= 4096 and 32 <= h <= 4096):
        raise DatasetError(f"--size must be between 32x32 and 4096x4096, not {w}x{h}")
    root = Path(root)
    params = _params(seed, n_sequences, n_frames, (w, h), max_objects)
    meta = _existing(root, params)
    if meta is not None:
        return meta

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    names = [f"synth-{i:03d}" for i in range(n_sequences)]
    top = np.random.default_rng([seed, 0x5EED])
    counts = [(i % max_objects) + 1 for i in range(n_sequences)]
    counts = [int(c) for c in top.permutation(counts)]
    exits = [i == 0 or bool(top.random() < 0.4) for i in range(n_sequences)]
    exits = [e and n_frames >= 8 for e in exits]
    palette = DAVIS_PALETTE
    meta, details = {}, {}
    try:
        for d in ("JPEGImages/480p", "Annotations/480p", "Scribbles", "ImageSets/2017"):
            (tmp / d).mkdir(parents=True)
        for i, name in enumerate(names):
            k = counts[i]
            for attempt in range(SEQUENCE_ATTEMPTS):
                rng = np.random.default_rng([seed, i, attempt])
                frames, masks, visible, occluded, depth, exit_obj = _render_sequence(
                    rng, w, h, k, n_frames, exits[i])
                scribble, sframe = _robot_scribble(name, masks, visible, k)
                if scribble is not None:
                    break
            else:
                raise DatasetError(f"could not draw robot scribbles for every object of {name} "
                                   f"(try another --seed or a larger --size)")
            img_dir = tmp / "JPEGImages/480p" / name
            ann_dir = tmp / "Annotations/480p" / name
            scr_dir = tmp / "Scribbles" / name
            for dd in (img_dir, ann_dir, scr_dir):
                dd.mkdir()
            for fi in range(n_frames):
                Image.fromarray(frames[fi], "RGB").save(img_dir / f"{fi:05d}.jpg", quality=JPEG_QUALITY)
                m = Image.fromarray(masks[fi], "L").convert("P")
                m.putpalette(palette)
                m.save(ann_dir / f"{fi:05d}.png")
            _write_json(scr_dir / "001.json", scribble, indent=None)
            meta[name] = {"name": name, "num_frames": n_frames, "num_objects": k, "num_scribbles": 1,
                          "image_size": [w, h], "set": "train", "year": 2017}
            details[name] = {
                "attempt": attempt, "scribble_frame": sframe,
                "depth_order_back_to_front": [int(o) + 1 for o in depth],
                "objects": [{"id": oi + 1,
                             "absent_frames": [int(f) for f in np.flatnonzero(visible[:, oi] == 0)],
                             "occluded_frames": [int(f) for f in np.flatnonzero(occluded[:, oi] > 0)],
                             "leaves_and_reenters": exit_obj == oi}
                            for oi in range(k)]}
            if progress is not None:
                progress(i + 1, n_sequences, name)
        (tmp / "ImageSets/2017/train.txt").write_text("".join(n + "\n" for n in names))
        _write_json(tmp / "sequences.json", meta)
        (tmp / "README.txt").write_text(_readme(params, meta, details))
        _write_json(tmp / PARAMS_FILE, {"generator": "ivosw_bench.data.synthetic", "params": params,
                                       "complete": True, "sequences": details})
        try:
            if root.exists():
                root.rmdir()  # only ever an empty folder here (see _existing)
            os.rename(tmp, root)
        except OSError:
            done = _existing(root, params)  # a concurrent run may have finished first
            if done is None:
                raise
            return done
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _readme(params: dict, meta: dict, details: dict) -> str:
    from .. import __version__

    lines = [
        "Synthetic DAVIS-layout dataset generated by ivosw-bench (ivosw_bench.data.synthetic).",
        "",
        f"ivosw-bench version: {__version__}; generator version: {params['generator_version']}",
        f"Parameters: seed={params['seed']} n_sequences={params['n_sequences']} "
        f"n_frames={params['n_frames']} size={params['size'][0]}x{params['size'][1]} "
        f"max_objects={params['max_objects']}",
        "Regenerate (byte-identical): python -c \"from ivosw_bench.data.synthetic import generate; "
        f"generate('ROOT', seed={params['seed']}, n_sequences={params['n_sequences']}, "
        f"n_frames={params['n_frames']}, size=({params['size'][0]}, {params['size'][1]}), "
        f"max_objects={params['max_objects']})\"",
        "",
        "Textured blob objects moving, rotating, scaling, deforming and changing appearance over a",
        "panning textured background; objects occlude each other (masks label the front object).",
        "Initial scribbles (Scribbles/<seq>/001.json) were drawn by davisinteractive's scribble robot on",
        "an empty prediction at the frame where all objects are jointly most visible.",
        "Per-object facts (absent and occluded frames, depth order) are in synthetic.json.",
        "",
        "Sequences:",
    ]
    for name, entry in meta.items():
        d = details[name]
        leaving = [o["id"] for o in d["objects"] if o["leaves_and_reenters"]]
        extra = f"; object {leaving[0]} leaves the frame and re-enters" if leaving else ""
        lines.append(f"  {name}: {entry['num_frames']} frames, {entry['num_objects']} object(s), "
                     f"scribble on frame {d['scribble_frame']}{extra}")
    return "\n".join(lines) + "\n"

