"""Make davisinteractive 1.0.4 run on numpy 2, networkx 3, pandas 2/3 and modern scikit-image.

Call :func:`apply` before importing anything from davisinteractive (``ivosw_bench`` does it in
every module that touches davisinteractive). It is idempotent and never edits site-packages. Each
shim fixes one measured break (see README, "davisinteractive on a modern stack"):

1. ``np.int`` / ``np.float`` were removed in numpy 1.24; davisinteractive uses them at import time
   and in ~35 call sites. Aliased to the builtins (exactly what they were). ``np.bool`` is *not*
   touched: it exists again in numpy 2.
2. ``np.trapz`` was removed in numpy 2.4; ``summarize_report`` uses it. Aliased to ``np.trapezoid``.
3. ``networkx.from_scipy_sparse_matrix`` was removed in networkx 3; the scribble robot uses it.
   Aliased to ``from_scipy_sparse_array``.
4. pandas >= 2 refuses ``groupby().mean()`` with the text column ``session_id`` present, and with
   pandas 3 the report built by concatenation has ``object`` columns that ``np.interp`` cannot cast.
   ``EvaluationService.summarize_report`` is wrapped to drop ``session_id`` and cast the numeric
   columns first.
5. scikit-image >= 0.19 breaks ``medial_axis`` ties at random, so the robot's scribbles move between
   identical runs. The robot's ``medial_axis`` gets a fixed random state (``ROBOT_SEED``).
6. The mask RLE decoder (Cython, ``mask_api.decode_mask`` / ``decode_batch_masks``) looks up
   ``NPY_OWNDATA``, gone in numpy 2, and trusts its input (runs longer than the mask overflow its
   buffer). Both are replaced by the checked numpy decoder of :mod:`ivosw_bench.rle` (same output).
   Only the remote protocol decodes (a server decodes every mask a client posts); encoding works.

Then :func:`ivosw_bench.evaluation.install` replaces the evaluation path's slow functions (J and F,
ground-truth loading, the robot's whole-video conversion and full-frame skeleton) by exact fast
equivalents; see that module.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

ROBOT_SEED = 0
_APPLIED = False
NUMERIC_REPORT_COLUMNS = ("scribble_idx", "interaction", "object_id", "frame", "jaccard", "contour",
                          "j_and_f", "timing")


def _patch_numpy() -> None:
    for name, value in (("int", int), ("float", float)):
        try:
            getattr(np, name)
        except AttributeError:
            setattr(np, name, value)
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid


def _patch_networkx() -> None:
    import networkx as nx

    if not hasattr(nx, "from_scipy_sparse_matrix"):
        nx.from_scipy_sparse_matrix = nx.from_scipy_sparse_array


def clean_report(df):
    """A davisinteractive report DataFrame as ``summarize_report`` expects it on modern pandas."""
    import pandas as pd

    df = df.drop(columns=[c for c in ("session_id",) if c in df.columns])
    df = df.copy()
    for col in NUMERIC_REPORT_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col])
    if "sequence" in df.columns:
        df["sequence"] = df["sequence"].astype(str)
    return df


def _patch_summarize_report() -> None:
    from davisinteractive.evaluation.service import EvaluationService

    original = EvaluationService.summarize_report
    if getattr(original, "_ivosw_patched", False):
        return

    @functools.wraps(original)
    def summarize_report(self, df):
        return original(self, clean_report(df))

    summarize_report._ivosw_patched = True
    EvaluationService.summarize_report = summarize_report


def _patch_robot() -> None:
    from davisinteractive.robot import interactive_robot
    from skimage.morphology import medial_axis

    if getattr(interactive_robot.medial_axis, "_ivosw_patched", False):
        return
    params = inspect.signature(medial_axis).parameters
    key = "rng" if "rng" in params else ("random_state" if "random_state" in params else None)

    from . import evaluation

    fast = key == "rng" and evaluation.fast_medial_axis_available()

    @functools.wraps(medial_axis)
    def seeded_medial_axis(image, *args, **kwargs):
        if fast and not args and not kwargs:  # the robot's call: the same algorithm, tables built once
            return evaluation.medial_axis(image, rng=ROBOT_SEED)
        if key is not None and key not in kwargs:
            kwargs[key] = ROBOT_SEED
        return medial_axis(image, *args, **kwargs)

    seeded_medial_axis._ivosw_patched = True
    interactive_robot.medial_axis = seeded_medial_axis


def _patch_mask_decoding() -> None:
    from davisinteractive.third_party import mask_api
    from davisinteractive.third_party.mask_api import mask

    from . import rle

    for module in (mask_api, mask):
        module.decode_mask = rle.decode_mask
        module.decode_batch_masks = rle.decode_batch_masks


def apply() -> None:
    """Install every shim (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _patch_numpy()
    _patch_networkx()
    _patch_summarize_report()
    _patch_robot()
    _patch_mask_decoding()
    from . import evaluation

    evaluation.install()
    _APPLIED = True
