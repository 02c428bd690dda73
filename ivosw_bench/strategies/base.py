"""The Strategy contract: given what is known after a round, choose the next frame to annotate.

    strategy.reset(sample)            # once per sample
    frame = strategy.recommend(state) # once per round, *before* the masks are submitted

Strategies are found through the entry-point group ``ivosw_bench.strategies``
(see :func:`ivosw_bench.registry.load_strategy`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np


@dataclass(frozen=True)
class SampleInfo:
    """What a strategy may know about a sample before the first round."""

    sequence: str
    scribble_idx: int
    n_frames: int
    n_objects: int
    seed: int


@dataclass
class RoundState:
    """Everything a strategy sees after round ``t`` (1-based) of a sample of ``n_frames`` frames.

    ``quality`` is the per-frame quality q_t in [0, 1] from the run's QualityEstimator (ground-truth
    J&F in the oracle setting, a prediction in the wild setting). ``history`` h_t counts how many times
    each frame was annotated (the initial scribble included). ``annotated`` lists the annotated frames
    in order. ``frames()`` and ``prediction()`` give lazy access to pixels for strategies that need
    them (e.g. a human looking at overlays); they never expose ground truth.
    """

    t: int
    n_frames: int
    quality: np.ndarray
    history: np.ndarray
    annotated: list[int]
    frames: Callable[[], np.ndarray] | None = None
    prediction: Callable[[], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def unannotated(self) -> np.ndarray:
        """Indices of frames never annotated so far (all frames if every one was)."""
        idx = np.flatnonzero(self.history == 0)
        return idx if idx.size else np.arange(self.n_frames)


class Strategy:
    """Base class of all strategies. ``needs_oracle`` strategies are refused in the wild setting."""

    name: ClassVar[str] = "base"
    needs_oracle: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.seed = seed
        self.options = options

    def reset(self, sample: SampleInfo) -> None:
        self.sample = sample

    def recommend(self, state: RoundState) -> int:  # pragma: no cover
        raise NotImplementedError
