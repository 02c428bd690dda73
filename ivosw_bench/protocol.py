"""The DAVIS interactive protocol's vocabulary, in one module (as davisinteractive keeps its scribble
helpers in ``utils/scribbles.py``): what a scribble is, where it lives, which frame it marks, how
the annotation history counts it, how strokes become pixels, and what a run is called.

The session loop, training episodes, the agent's environment, the study and every backend use these
functions; none of them re-derives the rules.

Scribbles are davisinteractive's dicts: ``{"scribbles": [[stroke, ...] per frame], "sequence": ...}``
with each stroke ``{"path": [[x, y], ...] (normalised to [0, 1]), "object_id": k, ...}``; object 0 is
the background.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import BackendError, DatasetError, one_line

SCRIBBLE_DIR = "Scribbles"


# ----------------------------------------------------------------------------------------- files
def scribble_path(root, sequence: str, scribble_idx: int) -> Path:
    """``<root>/Scribbles/<sequence>/<idx:03d>.json``."""
    return Path(root) / SCRIBBLE_DIR / sequence / f"{int(scribble_idx):03d}.json"


def load_scribble(root, sequence: str, scribble_idx: int) -> dict:
    """An initial scribble file, checked: a one-line :class:`DatasetError` naming the file when it is
    missing, not JSON, of the wrong shape, or without any stroke."""
    path = scribble_path(root, sequence, scribble_idx)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing scribble file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DatasetError(f"{path}: broken scribble JSON ({one_line(exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scribbles"), list):
        raise DatasetError(f"{path}: not a davisinteractive scribble (expected an object with a "
                           f"'scribbles' list)")
    first_scribbled_frame(data, where=str(path))
    return data


# ----------------------------------------------------------------------------------------- frames
def strokes_per_frame(scribbles: dict | None, n_frames: int | None = None) -> dict[int, list[dict]]:
    """``{frame: [stroke, ...]}`` for the frames with at least one stroke that has points; a stroke
    beyond ``n_frames`` raises :class:`BackendError`."""
    out: dict[int, list[dict]] = {}
    for f, strokes in enumerate((scribbles or {}).get("scribbles") or []):
        for s in strokes or []:
            if isinstance(s, dict) and s.get("path"):
                if n_frames is not None and f >= n_frames:
                    raise BackendError(f"stroke on frame {f} but the video has {n_frames} frames")
                out.setdefault(f, []).append(s)
    return out


def scribbled_frames(scribbles: dict | None) -> list[int]:
    """The frames that carry at least one stroke, in order."""
    return sorted(strokes_per_frame(scribbles))


def first_scribbled_frame(scribbles: dict | None, where: str = "scribble") -> int:
    """The frame of an initial scribble (its first frame with a stroke); :class:`DatasetError` naming
    ``where`` when it has none."""
    marked = scribbled_frames(scribbles)
    if not marked:
        raise DatasetError(f"{where}: the initial scribble has no strokes")
    return marked[0]


def annotated_frame(scribbles: dict | None, fallback: int | None = None) -> int:
    """The frame a round's strokes are on (the harness's ``annotated_frame`` wins when given)."""
    if fallback is not None and fallback >= 0:
        return int(fallback)
    marked = scribbled_frames(scribbles)
    if not marked:
        raise BackendError("the round's scribbles contain no stroke")
    return marked[0]


def count_annotation(history: np.ndarray, scribbles: dict | None, frame: int) -> None:
    """The annotation-history rule h_t: after a round, every frame that received strokes and the
    round's annotated frame (also when the robot drew nothing there) count once more. In place."""
    for f in set(scribbled_frames(scribbles)) | {int(frame)}:
        history[f] += 1


# ----------------------------------------------------------------------------------------- pixels
#: how normalised stroke points become pixel indices
#: - ``"davis"``: ``floor(x * (W - 1))``, davisinteractive's ``scribbles2mask`` (the adapters);
#: - ``"centre"``: ``round(x * W - 0.5)``, the pixel whose centre is nearest (the classic backend).
PIXEL_CONVENTIONS = ("davis", "centre")


def stroke_pixels(path, hw: tuple[int, int], convention: str = "davis") -> np.ndarray:
    """Nx2 int32 (x, y) pixel points of a normalised stroke path at resolution ``hw`` (non-finite
    points dropped, coordinates clipped to the image)."""
    h, w = hw
    pts = np.asarray(path if path is not None else [], dtype=np.float64).reshape(-1, 2)
    pts = np.clip(pts[np.isfinite(pts).all(axis=1)], 0.0, 1.0)
    if convention == "davis":
        px = np.floor(np.stack([pts[:, 0] * (w - 1), pts[:, 1] * (h - 1)], axis=1) + 1e-9)
    elif convention == "centre":
        px = np.stack([np.clip(np.round(pts[:, 0] * w - 0.5), 0, w - 1),
                       np.clip(np.round(pts[:, 1] * h - 0.5), 0, h - 1)], axis=1)
    else:
        raise ValueError(f"unknown pixel convention '{convention}' (known: {', '.join(PIXEL_CONVENTIONS)})")
    return px.astype(np.int32)


def check_object_ids(strokes: Iterable[dict], n_objects: int, frame: int) -> None:
    """:class:`BackendError` when a stroke's object id is not 0..n_objects."""
    for s in strokes:
        oid = int(s.get("object_id", 0))
        if oid < 0 or oid > n_objects:
            raise BackendError(f"stroke with object_id {oid} on frame {frame} but the sample has "
                               f"{n_objects} object(s)")


def draw_stroke(canvas: np.ndarray, px: np.ndarray, value: int = 1, thickness: int = 1,
                dot_radius: int | None = None) -> np.ndarray:
    """Draw a polyline of Nx2 pixel points into ``canvas`` (uint8, in place). A one-point stroke is a
    pixel, or a disc of ``dot_radius`` when given."""
    import cv2

    if len(px) == 1 and dot_radius is None:
        canvas[px[0, 1], px[0, 0]] = value
    elif len(px):
        cv2.polylines(canvas, [px.reshape(-1, 1, 2)], False, value, thickness=thickness, lineType=cv2.LINE_8)
        if len(px) == 1:
            cv2.circle(canvas, tuple(int(v) for v in px[0]), dot_radius, value, -1)
    return canvas


def rasterise(strokes: Iterable[dict], hw: tuple[int, int], default: int = -1,
              keep: Iterable[int] | None = None, thickness: int = 1, convention: str = "davis",
              dot_radius: int | None = None, dtype=np.int64) -> np.ndarray:
    """[H, W] label map of strokes: ``default`` where no stroke passes, else the object id of the last
    stroke drawn there (8-connected polylines of ``thickness`` pixels); ``keep`` limits the object ids."""
    out = np.full(hw, default, dtype)
    keep_set = None if keep is None else {int(k) for k in keep}
    for s in strokes:
        oid = int(s.get("object_id", 0))
        if keep_set is not None and oid not in keep_set:
            continue
        px = stroke_pixels(s.get("path"), hw, convention)
        if len(px) == 0:
            continue
        m = draw_stroke(np.zeros(hw, np.uint8), px, 1, thickness, dot_radius)
        out[m > 0] = oid
    return out


# ----------------------------------------------------------------------------------------- runs
def run_id(dataset: str, backend: str, strategy: str, setting: str, rounds: int, seed: int) -> str:
    """The default run folder name; a strategy argument (``human:alice``) is written ``human-alice``."""
    return f"{dataset}_{backend}_{strategy.replace(':', '-')}_{setting}_T{rounds}_seed{seed}"
