"""The Backend contract: what every interactive VOS method plugged into ivosw-bench implements.

A backend segments one *sample* (a video plus its objects) over several interaction rounds:

    backend.reset(sequence, frames, n_objects)     # once per sample (a sequence + scribble set)
    pred = backend.interact(scribbles, annotated_frame)   # once per round
    pred.labels   # [T, H, W] int: 0 background, 1..K objects
    pred.probs    # [K+1, T, H, W] float32 per-object probabilities (may be computed lazily)

``scribbles`` is davisinteractive's scribble dict of the round *only* (``{"scribbles": [[stroke...]
per frame], "sequence": ...}``, points normalised to [0, 1], strokes carrying ``object_id``; 0 is
background). Backends keep their own memory across the rounds of one sample (earlier scribbles,
earlier masks) and drop it on ``reset``.

Backends are found through the entry-point group ``ivosw_bench.backends`` (see
:func:`ivosw_bench.registry.load_backend`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from ivosw_bench.errors import BackendError, BackendUnavailable

__all__ = ["Backend", "BackendError", "BackendUnavailable", "Prediction", "validate_prediction"]


@dataclass
class Prediction:
    """A backend's answer for a whole video after one round.

    ``probs`` may be given as an array or as a zero-argument callable returning the array, so that
    backends whose probabilities are expensive at 480p x 100 frames only build them when asked.
    ``low_res_probs`` (optional, ``[K+1, T, h, w]``): the same probabilities at the backend's working
    resolution, of which ``probs`` is the bilinear upsampling; consumers that only need a region (the
    QA network's crops) read them there instead of building the full-resolution stack.
    """

    labels: np.ndarray
    _probs: np.ndarray | Callable[[], np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    low_res_probs: np.ndarray | None = None

    @property
    def probs(self) -> np.ndarray:
        if self._probs is None:
            raise BackendError("this backend gave no per-object probabilities")
        if callable(self._probs):
            self._probs = self._probs()
        return self._probs

    @property
    def has_probs(self) -> bool:
        return self._probs is not None


def validate_prediction(pred: Prediction, n_frames: int, height: int, width: int, n_objects: int,
                        backend_name: str = "backend") -> Prediction:
    """Check a backend's output against the contract where it enters the harness.

    Raises :class:`BackendError` with one line naming the backend and the problem (wrong shape,
    out-of-range labels, NaN probabilities).
    """
    labels = np.asarray(pred.labels)
    if labels.shape != (n_frames, height, width):
        raise BackendError(f"backend '{backend_name}' returned labels of shape {labels.shape}, "
                           f"expected {(n_frames, height, width)}")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.isnan(labels).any():
            raise BackendError(f"backend '{backend_name}' returned NaN labels")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > n_objects):
        raise BackendError(f"backend '{backend_name}' returned labels in [{labels.min()}, {labels.max()}], "
                           f"expected [0, {n_objects}]")
    pred.labels = labels
    if pred.has_probs and not callable(pred._probs):
        probs = np.asarray(pred._probs)
        if probs.shape != (n_objects + 1, n_frames, height, width):
            raise BackendError(f"backend '{backend_name}' returned probs of shape {probs.shape}, "
                               f"expected {(n_objects + 1, n_frames, height, width)}")
        if not np.isfinite(probs).all():
            raise BackendError(f"backend '{backend_name}' returned NaN/inf probabilities")
    return pred


class Backend:
    """Base class of all backends: everything the harness calls is declared here.

    Subclasses set ``name`` (and ``description``) and implement :meth:`reset` and :meth:`interact`;
    :meth:`check_setup` names what is missing on this machine; :meth:`close` releases resources.
    Backends that can save and restore their per-sample state cheaply set ``supports_snapshot`` and
    implement :meth:`snapshot` / :meth:`restore`, which a look-ahead (greedy-oracle, training
    episodes) uses to try a frame without replaying the whole history; elsewhere the harness replays.
    """

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    supports_snapshot: ClassVar[bool] = False

    @classmethod
    def availability(cls) -> str | None:
        """``None`` when the backend can run here, else the one thing that is missing (one line)."""
        try:
            cls.check_setup()
        except BackendError as exc:
            return str(exc)
        return None

    @classmethod
    def check_setup(cls) -> None:
        """Raise :class:`BackendUnavailable` naming the one thing missing (checkout, weights, CUDA,
        a package). Default: nothing to check."""

    @classmethod
    def notes(cls) -> str | None:
        """What a user should know about how the backend would run here (e.g. random weights), or
        ``None``. Shown by ``ivosw-bench backends``."""
        return None

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        """Start a new sample: drop every memory of the previous one."""
        raise NotImplementedError(f"backend '{self.name}' does not implement reset()")

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        """One round: this round's scribbles (on ``annotated_frame``) -> masks of the whole video."""
        raise NotImplementedError(f"backend '{self.name}' does not implement interact()")

    def snapshot(self) -> Any:
        """An opaque copy of the per-sample state (only with ``supports_snapshot``)."""
        raise BackendError(f"backend '{self.name}' cannot snapshot its state (supports_snapshot is False)")

    def restore(self, state: Any) -> None:
        """Return to a state from :meth:`snapshot` of the same sample (only with ``supports_snapshot``)."""
        raise BackendError(f"backend '{self.name}' cannot restore a state (supports_snapshot is False)")

    def close(self) -> None:
        """Release resources (GPU memory, processes). Default: nothing."""
