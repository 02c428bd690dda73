"""Validation of DAVIS-layout dataset folders, where data enters ivosw-bench.

:func:`check_dataset` names every problem it finds (one :class:`Problem` per problem, each with the
file or folder it concerns); :func:`ensure_valid` turns them into one :class:`DatasetError`;
:func:`sequence_metadata` computes a sequence's davis.json-style entry from the folder's contents.

Layout checked::

    ROOT/JPEGImages/480p/<seq>/00000.jpg ...   frames 00000..T-1, same size, readable
    ROOT/Annotations/480p/<seq>/00000.png ...  one single-channel/palette PNG per frame, ids 0..K, 255 void
    ROOT/Scribbles/<seq>/001.json ...          davisinteractive scribble files numbered 001.. without gaps
    ROOT/ImageSets/<year>/<subset>.txt         (optional) sequence names, one per line
    ROOT/sequences.json                        (optional) metadata that must agree with the folder

A participant's folder for a remote run holds no ground truth (``annotations=False``): no
``Annotations/`` is required or read, and a ``sequences.json`` there must give ``num_objects``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from ..errors import DatasetError  # noqa: F401 (defined low, re-exported here)

FRAME_RE = re.compile(r"^(\d{5})\.jpg$")
MASK_RE = re.compile(r"^(\d{5})\.png$")
SCRIBBLE_RE = re.compile(r"^(\d{3})\.json$")
VOID = 255
PathLike = Union[str, Path]


@dataclass(frozen=True)
class Problem:
    """One problem with a dataset folder: the file or folder concerned and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"




# -------------------------------------------------------------------------------------- helpers
def _numbered(folder: Path, pattern: re.Pattern) -> tuple[dict[int, Path], list[Path]]:
    """Files of ``folder`` matching ``pattern`` by number, and the other (non-hidden) entries."""
    found, other = {}, []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        m = pattern.match(p.name)
        if m and p.is_file():
            found[int(m.group(1))] = p
        else:
            other.append(p)
    return found, other


def _image_dir(root: Path, seq: str) -> Path:
    return root / "JPEGImages" / "480p" / seq


def _mask_dir(root: Path, seq: str) -> Path:
    return root / "Annotations" / "480p" / seq


def _scribble_dir(root: Path, seq: str) -> Path:
    return root / "Scribbles" / seq


def _label_counts(path: Path) -> tuple[str, tuple[int, int], Optional[np.ndarray]]:
    """(mode, (W, H), per-value pixel counts or None if not single-channel) of a mask PNG."""
    from PIL import Image

    with Image.open(path) as im:
        fmt, mode, size = im.format, im.mode, im.size
        if mode not in ("P", "L"):
            return mode, size, None
        arr = np.asarray(im)
    if fmt != "PNG":
        raise ValueError(f"not a PNG file (format {fmt})")
    return mode, size, np.bincount(arr.ravel(), minlength=256)


def _max_label(counts: np.ndarray) -> int:
    present = np.flatnonzero(counts[:VOID])
    return int(present.max()) if present.size else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _compact_ids(ids: Iterable[int]) -> str:
    ids = list(ids)
    if len(ids) > 8:
        return ", ".join(map(str, ids[:8])) + f", ... ({len(ids)} in all)"
    return ", ".join(map(str, ids))


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) and math.isfinite(x)


# ----------------------------------------------------------------------------- sequence metadata
def sequence_metadata(root: PathLike, seq: str) -> dict:
    """The davis.json-style entry of ``seq`` computed from the folder's contents.

    num_frames counts the JPEGs, num_objects is the largest mask label over all frames (255, void,
    excluded), image_size is [W, H] of the first frame, num_scribbles counts ``Scribbles/<seq>/NNN.json``.
    Raises DatasetError when the sequence has no frames."""
    from PIL import Image

    root = Path(root)
    img_dir = _image_dir(root, seq)
    if not img_dir.is_dir():
        raise DatasetError(f"{img_dir}: unknown sequence {seq!r} (no such folder)")
    frames, _ = _numbered(img_dir, FRAME_RE)
    if not frames:
        raise DatasetError(f"{img_dir}: no frames (expected 00000.jpg, 00001.jpg, ...)")
    with Image.open(frames[min(frames)]) as im:
        w, h = im.size
    num_objects = 0
    mask_dir = _mask_dir(root, seq)
    if mask_dir.is_dir():
        masks, _ = _numbered(mask_dir, MASK_RE)
        for p in masks.values():
            try:
                _, _, counts = _label_counts(p)
            except Exception:  # noqa: BLE001 - metadata is best effort; check_dataset names it
                continue
            if counts is not None:
                num_objects = max(num_objects, _max_label(counts))
    scr_dir = _scribble_dir(root, seq)
    num_scribbles = len(_numbered(scr_dir, SCRIBBLE_RE)[0]) if scr_dir.is_dir() else 0
    return {"name": seq, "num_frames": len(frames), "num_objects": num_objects,
            "num_scribbles": num_scribbles, "image_size": [w, h], "set": "train", "year": 2017}


# --------------------------------------------------------------------------------------- checks
def _check_frames(img_dir: Path, problems: list) -> tuple[int, int, Optional[tuple[int, int]]]:
    """Check the JPEGs; return (T, number of frame files, expected size or None)."""
    from PIL import Image

    frames, other = _numbered(img_dir, FRAME_RE)
    for p in other:
        problems.append(Problem(str(p), "unexpected entry (frames must be named 00000.jpg, 00001.jpg, ...)"))
    if not frames:
        problems.append(Problem(str(img_dir), "no frames (expected 00000.jpg, 00001.jpg, ...)"))
        return 0, 0, None
    t = max(frames) + 1
    for i in range(t):
        if i not in frames:
            problems.append(Problem(str(img_dir / f"{i:05d}.jpg"), "missing frame"))
    sizes = {}
    for i, p in sorted(frames.items()):
        try:
            with Image.open(p) as im:
                if im.format != "JPEG":
                    problems.append(Problem(str(p), f"not a JPEG file (format {im.format})"))
                    continue
                if im.mode != "RGB":
                    problems.append(Problem(str(p), f"not an RGB image (mode {im.mode})"))
                size = im.size
                # decoding at 1/8 scale still reads the whole stream: catches truncation cheaply
                im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
            sizes[i] = size
        except Exception as e:  # noqa: BLE001 - any failure to read is the problem to report
            problems.append(Problem(str(p), f"unreadable image ({type(e).__name__}: {_one_line(e)})"))
    if not sizes:
        return t, len(frames), None
    expected = sizes.get(0) or max(set(sizes.values()), key=list(sizes.values()).count)
    for i, size in sorted(sizes.items()):
        if size != expected:
            problems.append(Problem(str(frames[i]), f"wrong size {size[0]}x{size[1]}, expected "
                                                    f"{expected[0]}x{expected[1]} (the size of frame 00000)"))
    return t, len(frames), expected


def _one_line(e) -> str:
    return " ".join(str(e).split())


def _check_masks(mask_dir: Path, t: int, size, problems: list) -> Optional[int]:
    """Check the annotation PNGs; return K (largest object id) or None if nothing was readable."""
    if not mask_dir.is_dir():
        problems.append(Problem(str(mask_dir), "missing annotation folder"))
        return None
    masks, other = _numbered(mask_dir, MASK_RE)
    for p in other:
        problems.append(Problem(str(p), "unexpected entry (masks must be named 00000.png, 00001.png, ...)"))
    for i in range(t):
        if i not in masks:
            problems.append(Problem(str(mask_dir / f"{i:05d}.png"), "missing annotation"))
    for i, p in sorted(masks.items()):
        if i >= t:
            problems.append(Problem(str(p), f"annotation without a frame (the sequence has {t} frames)"))
    total = np.zeros(256, dtype=np.int64)
    where = {}
    readable = 0
    for i, p in sorted(masks.items()):
        try:
            mode, msize, counts = _label_counts(p)
        except Exception as e:  # noqa: BLE001
            problems.append(Problem(str(p), f"unreadable mask ({type(e).__name__}: {_one_line(e)})"))
            continue
        if counts is None:
            problems.append(Problem(str(p), f"not a single-channel palette mask (mode {mode}); "
                                            "masks must be 8-bit 'P' or 'L' PNGs of object ids"))
            continue
        readable += 1
        if size is not None and tuple(msize) != tuple(size):
            problems.append(Problem(str(p), f"wrong size {msize[0]}x{msize[1]}, expected "
                                            f"{size[0]}x{size[1]}"))
        total += counts
        for v in np.flatnonzero(counts[1:VOID]) + 1:
            where.setdefault(int(v), p.name)
    if not readable:
        return None
    k = _max_label(total)
    if k == 0:
        problems.append(Problem(str(mask_dir), "no object in any mask (every pixel is 0 or 255; "
                                               "objects must have ids 1..K)"))
        return 0
    missing = [v for v in range(1, k + 1) if total[v] == 0]
    if missing:
        problems.append(Problem(str(mask_dir), f"object ids must be 1..K without gaps: id(s) "
                                               f"{_compact_ids(missing)} never appear, but id {k} "
                                               f"does (first in {where[k]})"))
    return k


def _check_stroke(stroke, k: Optional[int]) -> list[str]:
    errs = []
    if not isinstance(stroke, dict):
        return [f"must be an object with \"path\" and \"object_id\", got {type(stroke).__name__}"]
    path = stroke.get("path")
    if not isinstance(path, list):
        errs.append("missing \"path\" list" if path is None else "\"path\" must be a list of [x, y] pairs")
    elif not path:
        errs.append("empty \"path\"")
    else:
        bad = [j for j, pt in enumerate(path)
               if not (isinstance(pt, (list, tuple)) and len(pt) == 2 and all(_is_num(c) for c in pt))]
        if bad:
            errs.append(f"\"path\" point {bad[0]} is {path[bad[0]]!r}, not an [x, y] pair of numbers"
                        + (f" ({len(bad)} bad points)" if len(bad) > 1 else ""))
        else:
            arr = np.asarray(path, dtype=np.float64)
            if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
                errs.append(f"\"path\" coordinates must be normalised to [0, 1] "
                            f"(found {arr.min():.4g}..{arr.max():.4g})")
    oid = stroke.get("object_id")
    if oid is None:
        errs.append("missing \"object_id\"")
    elif not _is_int(oid):
        errs.append(f"\"object_id\" {oid!r} is not an integer")
    elif oid < 0 or (k is not None and oid > k):
        errs.append(f"\"object_id\" {oid} out of range 0..{k}" if k is not None
                    else f"\"object_id\" {oid} is negative")
    return errs


def _check_scribble_file(p: Path, seq: str, t: int, k: Optional[int], problems: list) -> None:
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(str(p), f"unreadable ({type(e).__name__}: {_one_line(e)})"))
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        problems.append(Problem(str(p), f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno} "
                                        f"(char {e.pos})"))
        return
    except RecursionError:
        problems.append(Problem(str(p), "invalid JSON: nested too deeply"))
        return
    if not isinstance(data, dict):
        problems.append(Problem(str(p), "top level must be a JSON object with \"scribbles\" and \"sequence\""))
        return
    name = data.get("sequence")
    if name is None:
        problems.append(Problem(str(p), "missing \"sequence\""))
    elif name != seq:
        problems.append(Problem(str(p), f"\"sequence\" is {name!r}, expected {seq!r} (the folder name)"))
    scr = data.get("scribbles")
    if not isinstance(scr, list):
        problems.append(Problem(str(p), "missing \"scribbles\" list" if scr is None
                                else "\"scribbles\" must be a list with one list of strokes per frame"))
        return
    if t and len(scr) != t:
        problems.append(Problem(str(p), f"\"scribbles\" has {len(scr)} frame entries, expected {t} "
                                        "(one per frame)"))
    n_strokes = 0
    for fi, strokes in enumerate(scr):
        if not isinstance(strokes, list):
            problems.append(Problem(str(p), f"frame {fi}: entry must be a list of strokes, "
                                            f"got {type(strokes).__name__}"))
            continue
        for si, stroke in enumerate(strokes):
            n_strokes += 1
            for err in _check_stroke(stroke, k):
                problems.append(Problem(str(p), f"frame {fi} stroke {si}: {err}"))
    if n_strokes == 0:
        problems.append(Problem(str(p), "contains no strokes"))


def _check_scribbles(scr_dir: Path, seq: str, t: int, k: Optional[int], problems: list) -> int:
    if not scr_dir.is_dir():
        problems.append(Problem(str(scr_dir), "missing scribble folder (needs at least 001.json)"))
        return 0
    files, other = _numbered(scr_dir, SCRIBBLE_RE)
    for p in other:
        problems.append(Problem(str(p), "unexpected entry (scribbles must be named 001.json, 002.json, ...)"))
    if not files:
        problems.append(Problem(str(scr_dir), "no scribble files (expected 001.json, 002.json, ...)"))
        return 0
    for i in range(1, max(files) + 1):
        if i not in files:
            problems.append(Problem(str(scr_dir / f"{i:03d}.json"), "missing scribble file "
                                                                    "(numbering must have no gaps)"))
    if 0 in files:
        problems.append(Problem(str(files[0]), "scribble files are numbered from 001"))
    for i, p in sorted(files.items()):
        _check_scribble_file(p, seq, t, k, problems)
    return len(files)


def _check_sequence(root: Path, seq: str, problems: list, annotations: bool = True) -> Optional[dict]:
    """Check one sequence; return its metadata as found (None where nothing could be read)."""
    img_dir = _image_dir(root, seq)
    t, n_frames, size = _check_frames(img_dir, problems)
    k = _check_masks(_mask_dir(root, seq), t, size, problems) if annotations else None
    n_scr = _check_scribbles(_scribble_dir(root, seq), seq, t, k, problems)
    if not n_frames:
        return None
    # num_frames is the numbering span: a gap is reported once, as the missing frame
    return {"name": seq, "num_frames": t, "num_objects": k, "num_scribbles": n_scr,
            "image_size": list(size) if size else None}


def _load_json(p: Path, problems: list):
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        problems.append(Problem(str(p), f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno} "
                                        f"(char {e.pos})"))
    except RecursionError:
        problems.append(Problem(str(p), "invalid JSON: nested too deeply"))
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(str(p), f"unreadable ({type(e).__name__}: {_one_line(e)})"))
    return None


def _check_declared(meta_path: Path, declared, found: dict, all_sequences: bool,
                    known: set, problems: list) -> None:
    if not isinstance(declared, dict):
        problems.append(Problem(str(meta_path), "must be a JSON object mapping sequence names to entries"))
        return
    for seq, have in found.items():
        entry = declared.get(seq)
        if entry is None:
            problems.append(Problem(str(meta_path), f"no entry for sequence {seq!r}"))
            continue
        if not isinstance(entry, dict):
            problems.append(Problem(str(meta_path), f"{seq}: entry must be a JSON object"))
            continue
        if have is None:
            continue
        if "name" in entry and entry["name"] != seq:
            problems.append(Problem(str(meta_path), f"{seq}: \"name\" is {entry['name']!r}, expected {seq!r}"))
        labels = {"num_frames": "frames", "num_objects": "objects", "num_scribbles": "scribble files",
                  "image_size": "image size"}
        for key, what in labels.items():
            value = have.get(key)
            if value is None:
                continue  # not measurable (its own problem is reported)
            if key not in entry:
                if key != "num_scribbles":
                    problems.append(Problem(str(meta_path), f"{seq}: missing \"{key}\""))
                continue
            if entry[key] != value:
                if key == "image_size":
                    msg = (f"{seq}: \"image_size\" is {entry[key]!r}, but the frames are "
                           f"{value[0]}x{value[1]} ([W, H] = {list(value)})")
                else:
                    msg = f"{seq}: \"{key}\" is {entry[key]!r}, but the folder has {value} {what}"
                problems.append(Problem(str(meta_path), msg))
    if all_sequences:
        for seq in declared:
            if seq not in known:
                problems.append(Problem(str(meta_path), f"entry {seq!r} has no sequence folder "
                                                        f"under JPEGImages/480p"))


def _check_declared_objects(meta_path: Path, declared, found: dict, problems: list) -> None:
    """Without Annotations/, num_objects comes from sequences.json alone: it must be there."""
    if not isinstance(declared, dict):
        return
    for seq in found:
        entry = declared.get(seq)
        n = entry.get("num_objects") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and not (_is_int(n) and n >= 1):
            problems.append(Problem(str(meta_path), f"{seq}: \"num_objects\" must be a positive integer "
                                                    f"(there is no Annotations/ to count them), got {n!r}"))


def check_dataset(root: PathLike, sequences: Optional[Iterable[str]] = None,
                  annotations: bool = True) -> list[Problem]:
    """Every problem of the dataset folder ``root`` (all sequences, or only ``sequences``); [] if valid.
    ``annotations=False``: a folder without ground truth (images, scribbles, sequences.json)."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.exists():
        return [Problem(str(root), "dataset folder does not exist")]
    if not root.is_dir():
        return [Problem(str(root), "not a folder")]
    img_root = root / "JPEGImages" / "480p"
    ann_root = root / "Annotations" / "480p"
    for d in (img_root, ann_root) if annotations else (img_root,):
        if not d.is_dir():
            problems.append(Problem(str(d), "missing folder"))
    known = {p.name for p in img_root.iterdir() if p.is_dir()} if img_root.is_dir() else set()
    all_sequences = sequences is None
    if all_sequences:
        seqs = sorted(known)
        if img_root.is_dir() and not seqs:
            problems.append(Problem(str(img_root), "no sequence folders"))
        for parent in (ann_root, root / "Scribbles"):
            if parent.is_dir():
                for p in sorted(parent.iterdir()):
                    if p.is_dir() and p.name not in known and not p.name.startswith("."):
                        problems.append(Problem(str(p), f"folder for unknown sequence {p.name!r} "
                                                        "(no JPEGImages/480p folder)"))
    else:
        seqs = [sequences] if isinstance(sequences, str) else list(dict.fromkeys(sequences))
    found = {}
    for seq in seqs:
        if seq not in known:
            problems.append(Problem(str(img_root / seq), f"unknown sequence {seq!r} (no such folder)"))
            continue
        found[seq] = _check_sequence(root, seq, problems, annotations)
    meta_path = root / "sequences.json"
    if meta_path.is_file():
        declared = _load_json(meta_path, problems)
        if declared is not None:
            _check_declared(meta_path, declared, found, all_sequences, known, problems)
            if not annotations:
                _check_declared_objects(meta_path, declared, found, problems)
    if all_sequences and (root / "ImageSets").is_dir():
        for txt in sorted((root / "ImageSets").glob("*/*.txt")):
            try:
                lines = txt.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                problems.append(Problem(str(txt), f"unreadable ({type(e).__name__}: {_one_line(e)})"))
                continue
            for n, line in enumerate(lines, 1):
                name = line.strip()
                if name and name not in known:
                    problems.append(Problem(str(txt), f"line {n}: unknown sequence {name!r}"))
    return problems


def ensure_valid(root: PathLike, sequences: Optional[Iterable[str]] = None, annotations: bool = True) -> None:
    """Raise DatasetError (one line: the first problem, and how many more) unless ``root`` is valid."""
    problems = check_dataset(root, sequences, annotations)
    if not problems:
        return
    msg = " ".join(str(problems[0]).split())
    if len(problems) > 1:
        msg += (f" (and {_plural(len(problems) - 1, 'more problem')}; "
                f"run 'ivosw-bench data check {root}')")
    raise DatasetError(msg)
