"""Convert YouTube-VOS (2018/2019 layout) + davisinteractive-format scribbles into a DAVIS-layout folder.

Input (``src``, the YouTube-VOS root or its split folder)::

    <src>/train/JPEGImages/<vid>/00000.jpg, 00005.jpg, ...   sparse frame names
    <src>/train/Annotations/<vid>/00000.png, 00005.png, ...  palette PNGs, object ids as in meta.json
    <src>/train/meta.json    {"videos": {vid: {"objects": {"2": {"category": ..., "frames": [...]}}}}}
    <scribbles>/<vid>/001.json ...   davisinteractive scribbles (one entry per frame of the video)

Output (``out``), checked with :func:`ivosw_bench.data.check.check_dataset`::

    JPEGImages/480p/<vid>/00000.jpg ...   frames renumbered 0..T-1 (files copied as they are)
    Annotations/480p/<vid>/00000.png ...  palette PNGs, object ids remapped to 1..K (sorted by old id)
    Scribbles/<vid>/001.json ...          object ids remapped the same way, "sequence" set to <vid>
    ImageSets/2017/train.txt (val.txt)    the converted videos
    sequences.json                        davis.json-style entries (year 2018)

Only videos with a scribble folder are converted (the CVPR 2021 paper's YouTube-VOS subset), or the
``sequences`` given.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from ..files import atomic_write, write_json
from .check import DatasetError, check_dataset

ProgressFn = Callable[[int, int, str], None]


def _palette() -> bytes:
    from .synthetic import DAVIS_PALETTE

    return DAVIS_PALETTE


def _split_dir(src: Path, split: str) -> Path:
    if not src.is_dir():
        raise DatasetError(f"{src}: YouTube-VOS folder does not exist")
    for cand in (src / split, src):
        if (cand / "JPEGImages").is_dir():
            return cand
    raise DatasetError(f"{src}: not a YouTube-VOS folder (no {split}/JPEGImages)")


def _frame_files(folder: Path, suffix: str) -> list[Path]:
    files = [p for p in folder.iterdir() if p.suffix.lower() == suffix and p.stem.isdigit()]
    return sorted(files, key=lambda p: int(p.stem))


def _object_ids(meta: dict, vid: str, masks: list[np.ndarray]) -> list[int]:
    ids = set()
    entry = (meta.get("videos") or {}).get(vid) if meta else None
    if entry:
        ids |= {int(k) for k in (entry.get("objects") or {})}
    for m in masks:
        ids |= {int(v) for v in np.unique(m) if v not in (0, 255)}
    return sorted(ids)


def _remap_scribble(data: dict, vid: str, mapping: dict[int, int], n_frames: int, path: Path) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("scribbles"), list):
        raise DatasetError(f"{path}: not a davisinteractive scribble file (no \"scribbles\" list)")
    scr = data["scribbles"]
    if len(scr) != n_frames:
        raise DatasetError(f"{path}: \"scribbles\" has {len(scr)} frame entries but video {vid} has "
                           f"{n_frames} frames")
    out_frames = []
    for fi, strokes in enumerate(scr):
        new = []
        for s in strokes or []:
            oid = int(s.get("object_id", 0))
            if oid != 0 and oid not in mapping:
                raise DatasetError(f"{path}: frame {fi}: stroke of object {oid}, which video {vid} does not "
                                   f"have (objects {sorted(mapping)})")
            new.append(dict(s, object_id=0 if oid == 0 else mapping[oid]))
        out_frames.append(new)
    return dict(data, scribbles=out_frames, sequence=vid)


def convert_youtube_vos(src, scribbles, out, sequences: Optional[Iterable[str]] = None,
                        progress: Optional[ProgressFn] = None, split: str = "train",
                        val_sequences: Optional[Iterable[str]] = None) -> dict:
    """Build the DAVIS-like layout in ``out``; return its ``sequences.json`` dict.

    ``sequences``: the videos to convert (default: every video with a scribble folder);
    ``val_sequences``: those of them listed in ImageSets/2017/val.txt (set "val") instead of train.txt.
    ``progress(done, total, video)`` is called after each video. Raises :class:`DatasetError` (one
    line) for a missing folder, a video without frames/annotations, a scribble that does not fit.
    """
    from PIL import Image

    src, scribbles, out = Path(src).expanduser(), Path(scribbles).expanduser(), Path(out).expanduser()
    split_dir = _split_dir(src, split)
    if not scribbles.is_dir():
        raise DatasetError(f"{scribbles}: scribble folder does not exist")
    meta: dict = {}
    meta_path = split_dir / "meta.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{meta_path}: unreadable meta.json ({' '.join(str(exc).split())})") from exc
    with_scribbles = sorted(p.name for p in scribbles.iterdir() if p.is_dir() and any(p.glob("*.json")))
    if sequences is None:
        vids = with_scribbles
        if not vids:
            raise DatasetError(f"{scribbles}: no <video>/*.json scribble folders")
    else:
        vids = [sequences] if isinstance(sequences, str) else list(dict.fromkeys(sequences))
        for v in vids:
            if v not in with_scribbles:
                raise DatasetError(f"{scribbles / v}: no scribbles for video {v}")
    val = set([val_sequences] if isinstance(val_sequences, str) else (val_sequences or []))
    unknown_val = val - set(vids)
    if unknown_val:
        raise DatasetError(f"val sequence {sorted(unknown_val)[0]!r} is not among the converted videos")
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out}: output folder exists and is not empty")
    for v in vids:  # check inputs before writing anything
        if not (split_dir / "JPEGImages" / v).is_dir():
            raise DatasetError(f"{split_dir / 'JPEGImages' / v}: video {v} has no frame folder")
        if not (split_dir / "Annotations" / v).is_dir():
            raise DatasetError(f"{split_dir / 'Annotations' / v}: video {v} has no annotations")

    palette = _palette()
    result: dict[str, dict] = {}
    for d in ("JPEGImages/480p", "Annotations/480p", "Scribbles", "ImageSets/2017"):
        (out / d).mkdir(parents=True, exist_ok=True)
    for i, vid in enumerate(vids):
        img_src, ann_src = split_dir / "JPEGImages" / vid, split_dir / "Annotations" / vid
        jpgs = _frame_files(img_src, ".jpg")
        if not jpgs:
            raise DatasetError(f"{img_src}: video {vid} has no .jpg frames")
        masks, size = [], None
        for j in jpgs:
            png = ann_src / f"{j.stem}.png"
            if not png.is_file():
                raise DatasetError(f"{png}: frame {j.name} of video {vid} has no annotation")
            with Image.open(png) as im:
                if im.mode not in ("P", "L"):
                    raise DatasetError(f"{png}: not a palette/8-bit mask (mode {im.mode})")
                masks.append(np.asarray(im).copy())
            with Image.open(j) as im:
                if size is None:
                    size = im.size
                elif im.size != size:
                    raise DatasetError(f"{j}: size {im.size[0]}x{im.size[1]}, expected {size[0]}x{size[1]}")
            if masks[-1].shape != (size[1], size[0]):
                raise DatasetError(f"{png}: mask size {masks[-1].shape[1]}x{masks[-1].shape[0]} differs "
                                   f"from the frame's {size[0]}x{size[1]}")
        ids = _object_ids(meta, vid, masks)
        present = sorted({int(v) for m in masks for v in np.unique(m) if v not in (0, 255)})
        ids = [k for k in ids if k in present]  # ids listed in meta.json but never drawn are dropped
        if not ids:
            raise DatasetError(f"{ann_src}: video {vid} has no object in any annotation")
        mapping = {old: new for new, old in enumerate(ids, 1)}
        lut = np.zeros(256, np.uint8)
        lut[255] = 255
        for old, new in mapping.items():
            lut[old] = new
        scr_files = sorted((scribbles / vid).glob("*.json"))
        scr_out = []
        for p in scr_files:
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DatasetError(f"{p}: invalid JSON ({' '.join(str(exc).split())})") from exc
            scr_out.append(_remap_scribble(data, vid, mapping, len(jpgs), p))
        img_dst, ann_dst, scr_dst = out / "JPEGImages/480p" / vid, out / "Annotations/480p" / vid, out / "Scribbles" / vid
        for d in (img_dst, ann_dst, scr_dst):
            d.mkdir(parents=True, exist_ok=True)
        for t, (j, m) in enumerate(zip(jpgs, masks)):
            shutil.copyfile(j, img_dst / f"{t:05d}.jpg")
            im = Image.fromarray(lut[m], "P")
            im.putpalette(palette)
            im.save(ann_dst / f"{t:05d}.png")
        for n, data in enumerate(scr_out, 1):
            atomic_write(scr_dst / f"{n:03d}.json", json.dumps(data) + "\n")
        result[vid] = {"name": vid, "num_frames": len(jpgs), "num_objects": len(ids),
                       "num_scribbles": len(scr_out), "image_size": [int(size[0]), int(size[1])],
                       "set": "val" if vid in val else "train", "year": 2018,
                       "source_frames": [j.stem for j in jpgs],
                       "object_id_map": {str(old): new for old, new in mapping.items()}}
        if progress is not None:
            progress(i + 1, len(vids), vid)
    train = [v for v in vids if v not in val]
    atomic_write(out / "ImageSets/2017/train.txt", "".join(v + "\n" for v in train))
    if val:
        atomic_write(out / "ImageSets/2017/val.txt", "".join(v + "\n" for v in vids if v in val))
    write_json(out / "sequences.json", result)
    problems = check_dataset(out)
    if problems:
        raise DatasetError(f"converted dataset {out} is not valid: {problems[0]}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return result
