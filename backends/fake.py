"""``fake``: a registered test double of the Backend contract (no vision, instant, deterministic).

Each object's mask on an annotated frame is the union of discs around its strokes (background strokes
carve them out); every other frame copies the mask of the nearest annotated frame. So quality decays
with distance from the annotations and a new annotation repairs its neighbourhood, like a real
backend, at no cost: contract tests, session tests and the fuzz test run on it without GrabCut or
optical flow. Not a segmentation method: never report its numbers.
"""
from __future__ import annotations

import numpy as np

from backends.base import Backend, BackendError, Prediction
from ivosw_bench.protocol import check_object_ids, rasterise, strokes_per_frame


class FakeBackend(Backend):
    """Discs around the strokes on annotated frames, copied to the nearest frames (tests only)."""

    name = "fake"
    description = "test double: discs around the strokes, copied from the nearest annotated frame (no vision)"
    supports_snapshot = True

    def __init__(self, radius: float = 0.08):
        """``radius``: disc radius around each stroke point, as a fraction of the image diagonal."""
        self.radius = float(radius)
        self.frames: np.ndarray | None = None

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or n_objects < 1:
            raise BackendError(f"frames must be [T,H,W,3] and n_objects >= 1 (got {frames.shape}, {n_objects})")
        self.sequence, self.frames, self.n_objects = sequence, frames, int(n_objects)
        self.masks: dict[int, np.ndarray] = {}

    def snapshot(self) -> dict:
        return {"sequence": self.sequence, "masks": dict(self.masks)}

    def restore(self, state: dict) -> None:
        if state.get("sequence") != self.sequence:
            raise BackendError(f"cannot restore a state of '{state.get('sequence')}' into '{self.sequence}'")
        self.masks = dict(state["masks"])

    def _mask(self, strokes: list[dict], previous: np.ndarray | None) -> np.ndarray:
        import cv2

        T, H, W = self.frames.shape[:3]
        out = np.zeros((H, W), np.uint8) if previous is None else previous.copy()
        r = max(1, int(self.radius * np.hypot(H, W)))
        seeds = rasterise(strokes, (H, W), default=-1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        for k in [0] + list(range(1, self.n_objects + 1)):
            grown = cv2.dilate((seeds == k).astype(np.uint8), kernel) > 0
            out[grown] = k
        return out

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("interact() called before reset()")
        T = len(self.frames)
        for f, strokes in strokes_per_frame(scribbles, T).items():
            check_object_ids(strokes, self.n_objects, f)
            self.masks[f] = self._mask(strokes, self.masks.get(f))
        labels = np.zeros(self.frames.shape[:3], np.uint8)
        if self.masks:
            annotated = np.array(sorted(self.masks))
            nearest = annotated[np.abs(np.arange(T)[:, None] - annotated[None]).argmin(1)]
            for t in range(T):
                labels[t] = self.masks[int(nearest[t])]
        L = self.n_objects + 1

        def probs() -> np.ndarray:
            return (labels[None] == np.arange(L)[:, None, None, None]).astype(np.float32)

        return Prediction(labels=labels, _probs=probs, info={"annotated_frames": sorted(self.masks)})
