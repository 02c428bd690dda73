"""One interaction through davisinteractive's own ``EvaluationService.post_predicted_masks``.

The service computes J and F against the ground truth, stores the report rows, picks the frame to
scribble (the worst of the client's candidates not used before, else of all frames) and runs the
robot. Its storage here is :class:`StagedStorage`: it answers "which frames were scribbled before"
from the database and *collects* what the service stores, so that the server commits the report
rows, the annotated frame and the returned scribble in one transaction afterwards. The checks and
numbers are those of davisinteractive's ``LocalStorage`` (J&F = 0.5 J + 0.5 F per row).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .dataset import SUBSET, ServedDataset


def _abstract_storage():
    from davisinteractive.storage import AbstractStorage

    return AbstractStorage


@dataclass
class Staged:
    """What the service stored during one interaction."""

    rows: list[tuple] = field(default_factory=list)   # (object_id, frame, jaccard, contour, j_and_f, timing)
    next_frame: int | None = None
    override: bool = False


def make_storage(previous_frames: list[int], n_frames: int):
    """A storage for one interaction whose earlier robot frames were ``previous_frames``."""

    class StagedStorage(_abstract_storage()):
        def __init__(self):
            self.staged = Staged()

        def store_interactions_results(self, user_id, session_id, sequence, scribble_idx, interaction, timing,
                                       objects_idx, frames, jaccard, contour):
            jaccard, contour = list(jaccard), list(contour)
            if min(jaccard) < 0.0 or max(jaccard) > 1.0 or min(contour) < 0.0 or max(contour) > 1.0:
                raise ValueError("Jaccard values must be between 0 and 1")
            self.staged.rows = [(int(o), int(f), float(j), float(c), float(0.5 * j + 0.5 * c), float(timing))
                                for o, f, j, c in zip(objects_idx, frames, jaccard, contour)]
            return True

        def get_annotated_frames(self, session_id, sequence, scribble_idx):
            used = np.unique(np.asarray(previous_frames, np.int64))
            return tuple() if len(used) == n_frames else tuple(int(f) for f in used)

        def store_annotated_frame(self, session_id, sequence, scribble_idx, annotated_frame, override):
            self.staged.next_frame, self.staged.override = int(annotated_frame), bool(override)

    return StagedStorage()


@dataclass(frozen=True)
class Outcome:
    staged: Staged
    scribble: dict
    eval_s: float


def evaluate(dataset: ServedDataset, gt_source, max_i: int, sequence: str, scribble_idx: int,
             masks: np.ndarray, timing: float, interaction: int, candidates: list[int] | None,
             previous_frames: list[int], user: str, session: str) -> Outcome:
    """Evaluate one submission with davisinteractive's service; nothing is written."""
    from davisinteractive.evaluation.service import EvaluationService

    t0 = time.perf_counter()
    n_frames = dataset.shape(sequence)[0]
    storage = make_storage(previous_frames, n_frames)
    service = EvaluationService(SUBSET, storage=storage, davis_root=str(dataset.data.root), max_i=max_i)
    service.davis = gt_source
    scribble = service.post_predicted_masks(sequence, scribble_idx, masks, timing, interaction, user, session,
                                            next_scribble_frame_candidates=candidates)
    return Outcome(storage.staged, scribble, time.perf_counter() - t0)
