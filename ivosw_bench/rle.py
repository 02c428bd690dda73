"""Decoding of the masks that davisinteractive's remote client posts: COCO compressed RLE, checked.

The client encodes every frame's label map with ``mask_api.encode_batch_masks`` (one binary RLE per
object, column-major runs alternating 0 and 1, written as COCO's 6-bit LEB128-like string of ASCII
48..111 with runs after the second stored as differences). davisinteractive's decoder is a Cython
extension that fails on numpy 2 (``NPY_OWNDATA``) and, worse for a server, trusts its input: runs
that add up to more than H x W pixels are written past its buffer. :func:`decode_counts` is the
same decoding in numpy that refuses anything the encoder cannot have produced (characters outside
the alphabet, a truncated value, negative runs, runs that do not add up to H x W), with a one-line
:class:`RLEError`. ``ivosw_bench.compat.apply`` installs :func:`decode_mask` and
:func:`decode_batch_masks` in place of davisinteractive's.
"""
from __future__ import annotations

import numpy as np

#: longest value the encoder writes for counts below 2**32 (7 x 5 bits, sign included)
MAX_VALUE_CHARS = 7


class RLEError(ValueError):
    """A mask encoding that davisinteractive's encoder cannot have produced (one-line message)."""


def decode_counts(counts, n_pixels: int) -> np.ndarray:
    """The run lengths [m] (int64) of a compressed RLE string covering exactly ``n_pixels``."""
    if isinstance(counts, bytes):
        raw = counts
    elif isinstance(counts, str) and counts.isascii():
        raw = counts.encode("ascii")
    else:
        raise RLEError("counts must be an ASCII string")
    if not raw:
        raise RLEError("empty counts string")
    c = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    if c.min() < 0 or c.max() > 63:
        raise RLEError("counts has characters outside the RLE alphabet (ASCII 48..111)")
    more = (c & 0x20) != 0
    if more[-1]:
        raise RLEError("counts ends inside a value (truncated)")
    ends = np.flatnonzero(~more)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > MAX_VALUE_CHARS:
        raise RLEError("counts holds a value too large for a run length")
    shift = 5 * (np.arange(c.size) - np.repeat(starts, lengths))
    x = np.add.reduceat((c & 0x1F) << shift, starts)  # 5-bit groups do not overlap: sum == or
    negative = (c[ends] & 0x10) != 0
    x = np.where(negative, x - (np.int64(1) << (5 * lengths)), x)
    runs = x.copy()
    runs[1::2] = np.cumsum(x[1::2])   # C: cnts[m] = x + cnts[m - 2] for m > 2
    runs[2::2] = np.cumsum(x[2::2])
    if runs.min() < 0:
        raise RLEError("counts decodes to a negative run length")
    if int(runs.sum()) != n_pixels:
        raise RLEError(f"counts covers {int(runs.sum())} pixels, the mask has {n_pixels}")
    return runs


def decode_binary(counts, h: int, w: int) -> np.ndarray:
    """One object's binary mask [h, w] (uint8) from its RLE string."""
    runs = decode_counts(counts, h * w)
    flat = np.repeat((np.arange(runs.size) % 2).astype(np.uint8), runs)
    return flat.reshape(w, h).T


def decode_objects(objects, h: int, w: int, n_objects: int | None = None) -> np.ndarray:
    """A label map [h, w] (uint8) from one frame's ``[{"object_id", "counts"}, ...]``; where objects
    overlap the largest id wins (davisinteractive's rule). ``n_objects``: the ids must be 1..K, once."""
    if not isinstance(objects, list):
        raise RLEError("a frame must be a list of {object_id, counts} objects")
    ids = []
    labels = np.zeros((h, w), np.uint8)
    for obj in objects:
        if not isinstance(obj, dict) or set(obj) != {"object_id", "counts"}:
            raise RLEError("each object must be {\"object_id\": int, \"counts\": str}")
        oid = obj["object_id"]
        if isinstance(oid, bool) or not isinstance(oid, int) or not 1 <= oid <= 255:
            raise RLEError(f"object_id {oid!r} is not an integer in 1..255")
        ids.append(oid)
        np.maximum(labels, decode_binary(obj["counts"], h, w) * np.uint8(oid), out=labels)
    if n_objects is not None and sorted(ids) != list(range(1, n_objects + 1)):
        raise RLEError(f"object ids {sorted(ids)} are not 1..{n_objects}, once each")
    return labels


def _size(size, n: int) -> tuple[int, ...]:
    if (not isinstance(size, list) or len(size) != n
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size)):
        raise RLEError(f"size must be a list of {n} positive integers, got {size!r}")
    return tuple(size)


def decode_mask(encoding) -> np.ndarray:
    """davisinteractive's ``mask_api.decode_mask``: ``{"size": [H, W], "objects": [...]}`` -> [H, W]."""
    if not isinstance(encoding, dict):
        raise RLEError("a mask encoding must be {\"size\": [H, W], \"objects\": [...]}")
    h, w = _size(encoding.get("size"), 2)
    return decode_objects(encoding.get("objects"), h, w)


def decode_batch_masks(encoding, shape: tuple[int, int, int] | None = None,
                       n_objects: int | None = None) -> np.ndarray:
    """davisinteractive's ``mask_api.decode_batch_masks``: ``{"size": [B, H, W], "frames": [...]}`` ->
    [B, H, W] uint8. ``shape`` and ``n_objects``, when given, are what the encoding must hold
    (checked before anything is allocated)."""
    if not isinstance(encoding, dict) or set(encoding) != {"size", "frames"}:
        raise RLEError("pred_masks must be {\"size\": [B, H, W], \"frames\": [...]}")
    b, h, w = _size(encoding["size"], 3)
    if shape is not None and (b, h, w) != tuple(shape):
        raise RLEError(f"mask shape {[b, h, w]} does not match the sequence's {list(shape)} (frames, H, W)")
    frames = encoding["frames"]
    if not isinstance(frames, list) or len(frames) != b:
        raise RLEError(f"frames must be a list of {b} frames")
    out = np.empty((b, h, w), np.uint8)
    for i, objects in enumerate(frames):
        try:
            out[i] = decode_objects(objects, h, w, n_objects)
        except RLEError as exc:
            raise RLEError(f"frame {i}: {exc}") from None
    return out
