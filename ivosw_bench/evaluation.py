"""davisinteractive's evaluation path, made fast without changing one number (installed by
:func:`ivosw_bench.compat.apply`; never edits site-packages).

A round of the local evaluation service loads the sequence's ground truth from PNG, computes J and F
of every frame with ``batched_jaccard`` / ``batched_f_measure``, and has the scribble robot draw a
correction on the recommended frame. Each step is replaced by an exact equivalent:

1. **J and F**: the service's two metric functions become :func:`ivosw_bench.jf.per_frame_jf`
   (identical to 1e-9, ~10x faster), computed once for both calls; inside :func:`submission`, the
   values the session already computed for the round's masks (the oracle quality) are reused.
2. **Ground truth**: ``Davis.load_annotations`` keeps the last sequences it loaded (read-only
   arrays; the files do not change during a run), as uint8 (the PNGs' own type: the J and F above and
   the robot read labels of any integer type; 8 times less memory than the int64 it asks for).
3. **Robot, one frame**: ``InteractiveScribblesRobot.interact`` with a given ``frame`` only ever reads
   that frame, but first converts the whole video to int64; it is called on the one frame instead
   and its strokes put back at their frame index.
4. **Robot, cropped skeleton**: ``_generate_scribble_mask`` (erosion/dilation by a disc of radius <=
   ``max_kernel_radius``, then the medial axis) runs on the error mask's box enlarged by more than
   the largest disc, which gives the same skeleton: outside the box everything is background, the
   rank filters and the distance transform see the same neighbourhoods, and the medial axis' seeded
   tie-breaking depends only on the row-major order of the foreground pixels, which cropping keeps.
   The medial axis' lookup tables (1,024 ``ndimage.label`` calls per call in scikit-image) are built once.

``tests/test_evaluation.py`` compares every replaced function with the original on real masks.
"""
from __future__ import annotations

import contextlib
import functools
from collections import OrderedDict

import numpy as np

from . import jf

_INSTALLED = False
_GT_CACHE_SIZE = 4
_memo: dict = {}  # {"key": (id(y_true), id(y_pred)), "refs": (...), "value": (j, f)}


# ------------------------------------------------------------------------------------------ J and F
@contextlib.contextmanager
def submission(labels: np.ndarray, j: np.ndarray | None = None, f: np.ndarray | None = None):
    """While the masks ``labels`` are submitted, the service uses the already computed ``j``/``f``
    ([T, K]) for them instead of computing them again (matched by the identity of ``labels``)."""
    if j is None or f is None:
        yield
        return
    _memo["submitted"] = (labels, (np.asarray(j, np.float64), np.asarray(f, np.float64)))
    try:
        yield
    finally:
        _memo.pop("submitted", None)


def _service_jf(y_true, y_pred, nb_objects) -> tuple[np.ndarray, np.ndarray]:
    submitted = _memo.get("submitted")
    if submitted is not None and submitted[0] is y_pred:
        return submitted[1]
    last = _memo.get("last")
    if last is not None and last[0] is y_true and last[1] is y_pred:
        return last[2]
    value = jf.per_frame_jf(y_true, y_pred, nb_objects)
    _memo["last"] = (y_true, y_pred, value)  # references kept: identities stay unique
    return value


def _service_metric(which: int, original):
    @functools.wraps(original)
    def metric(y_true, y_pred, average_over_objects=True, nb_objects=None, **kwargs):
        if nb_objects is None or kwargs.get("bound_th", jf.BOUND_TH) != jf.BOUND_TH:
            return original(y_true, y_pred, average_over_objects=average_over_objects, nb_objects=nb_objects,
                            **kwargs)
        out = _service_jf(y_true, y_pred, nb_objects)[which]
        return out.mean(axis=1) if average_over_objects else out.copy()

    metric._ivosw_fast = True
    return metric


# ------------------------------------------------------------------------------------------ ground truth
def _cached_annotations(original):
    cache: OrderedDict = OrderedDict()

    @functools.wraps(original)
    def load_annotations(self, sequence, dtype=int):
        if np.issubdtype(np.dtype(dtype), np.integer):
            dtype = np.uint8  # palette PNGs: ids 0..255
        key = (str(self.davis_root), sequence, np.dtype(dtype).str)
        if key not in cache:
            arr = original(self, sequence, dtype=dtype)
            arr.setflags(write=False)
            cache[key] = arr
            while len(cache) > _GT_CACHE_SIZE:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return cache[key]

    load_annotations._ivosw_fast = True
    load_annotations.cache = cache
    return load_annotations


# ------------------------------------------------------------------------------------------ robot
def _one_frame(original):
    @functools.wraps(original)
    def interact(self, sequence, pred_masks, gt_masks, nb_objects=None, frame=None):
        if frame is None:
            return original(self, sequence, pred_masks, gt_masks, nb_objects=nb_objects, frame=frame)
        n_frames = len(gt_masks)
        frame = int(frame)
        out = original(self, sequence, np.asarray(pred_masks)[frame:frame + 1],
                       np.asarray(gt_masks)[frame:frame + 1], nb_objects=nb_objects, frame=0)
        scribbles = [[] for _ in range(n_frames)]
        scribbles[frame] = out["scribbles"][0]
        out["scribbles"] = scribbles
        return out

    interact._ivosw_fast = True
    return interact


def _cropped_scribble_mask(original):
    @functools.wraps(original)
    def generate(self, mask):
        mask = np.asarray(mask, dtype=np.uint8)
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return original(self, mask)
        cols = np.flatnonzero(mask.any(axis=0))
        margin = int(np.ceil(self.max_kernel_radius)) + 2
        h, w = mask.shape
        y0, y1 = max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)
        x0, x1 = max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)
        skel = np.zeros(mask.shape, bool)
        skel[y0:y1, x0:x1] = original(self, mask[y0:y1, x0:x1])
        return skel

    generate._ivosw_fast = True
    return generate


@functools.lru_cache(maxsize=1)
def _medial_axis_tables():
    """scikit-image's medial-axis lookup tables (built inside every call there)."""
    from scipy import ndimage as ndi
    from skimage.morphology._skeletonize import _eight_connect, _pattern_of

    center = (np.arange(512) & 2**4).astype(bool)
    changes = np.array([ndi.label(_pattern_of(i), _eight_connect)[1]
                        != ndi.label(_pattern_of(i & ~(2**4)), _eight_connect)[1] for i in range(512)])
    few = np.array([np.sum(_pattern_of(i)) < 3 for i in range(512)])
    table = np.ascontiguousarray(center & (changes | few), dtype=np.uint8)
    corners = np.array([9 - np.sum(_pattern_of(i)) for i in range(512)])
    return table, corners


def medial_axis(image, rng=None):
    """scikit-image 0.19-0.26's ``medial_axis(image, mask=None, return_distance=False, rng=rng)``,
    with its lookup tables built once (same algorithm, same result)."""
    from scipy import ndimage as ndi
    from skimage.morphology._skeletonize import _skeletonize_loop, _table_lookup

    table, corners = _medial_axis_tables()
    masked = np.asarray(image).astype(bool)
    distance = ndi.distance_transform_edt(masked)
    corner_score = _table_lookup(masked, corners)
    i, j = np.mgrid[0:masked.shape[0], 0:masked.shape[1]]
    result = masked.copy()
    distance = distance[result]
    i = np.ascontiguousarray(i[result], dtype=np.intp)
    j = np.ascontiguousarray(j[result], dtype=np.intp)
    result = np.ascontiguousarray(result, np.uint8)
    tiebreaker = np.random.default_rng(rng).permutation(np.arange(masked.sum()))
    order = np.ascontiguousarray(np.lexsort((tiebreaker, corner_score[masked], distance)), dtype=np.int32)
    _skeletonize_loop(result, i, j, order, table)
    return result.astype(bool)


def fast_medial_axis_available() -> bool:
    try:
        from skimage.morphology._skeletonize import (_eight_connect, _pattern_of,  # noqa: F401
                                                     _skeletonize_loop, _table_lookup)
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ install
def install() -> None:
    """Replace the evaluation path's functions by their exact fast equivalents (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from davisinteractive.dataset.davis import Davis
    from davisinteractive.evaluation import service
    from davisinteractive.robot.interactive_robot import InteractiveScribblesRobot

    service.batched_jaccard = _service_metric(0, service.batched_jaccard)
    service.batched_f_measure = _service_metric(1, service.batched_f_measure)
    Davis.load_annotations = _cached_annotations(Davis.load_annotations)
    InteractiveScribblesRobot.interact = _one_frame(InteractiveScribblesRobot.interact)
    InteractiveScribblesRobot._generate_scribble_mask = _cropped_scribble_mask(
        InteractiveScribblesRobot._generate_scribble_mask)
    _INSTALLED = True
