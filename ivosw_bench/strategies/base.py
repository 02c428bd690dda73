"""The Strategy contract: given what is known after a round, choose the next frame to annotate.

    strategy.reset(sample)            # once per sample
    frame = strategy.recommend(state) # once per round, *before* the masks are submitted
    strategy.close()                  # once, at the end of a run

Everything the harness reads from a strategy is declared on :class:`Strategy`. Options are the
keyword arguments of a subclass's ``__init__`` (besides ``seed`` and ``rounds``, which every strategy
receives); the registry refuses an option a strategy does not take. Strategies are found through the
entry-point group ``ivosw_bench.strategies`` (see :mod:`ivosw_bench.registry`).
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
    """Everything a strategy sees after round ``t`` (1-based) of ``rounds``, for a sample of
    ``n_frames`` frames.

    ``quality`` is the per-frame quality q_t in [0, 1] from the run's QualityEstimator (ground-truth
    J&F in the oracle setting, a prediction in the wild setting). ``history`` h_t counts how many times
    each frame was annotated (the initial scribble included). ``annotated`` lists the annotated frames
    in order. ``frames()`` and ``prediction()`` give lazy access to pixels for strategies that need
    them (e.g. a human looking at overlays); they never expose ground truth. ``lookahead`` is given
    only in the oracle setting to strategies with ``needs_lookahead``: ``lookahead(frames)`` returns,
    for each frame, the sample's J&F after the robot scribbles that frame and the backend interacts
    (ground truth is used; the run's state is left unchanged).
    """

    t: int
    n_frames: int
    quality: np.ndarray
    history: np.ndarray
    annotated: list[int]
    rounds: int = 8
    frames: Callable[[], np.ndarray] | None = None
    prediction: Callable[[], Any] | None = None
    lookahead: Callable[[list[int]], np.ndarray] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def unannotated(self) -> np.ndarray:
        """Indices of frames never annotated so far (all frames if every one was)."""
        idx = np.flatnonzero(self.history == 0)
        return idx if idx.size else np.arange(self.n_frames)


class Strategy:
    """Base class of all strategies.

    Class attributes the harness reads:
        name: the registry name.
        description: one line for ``ivosw-bench strategies``.
        needs_oracle: refused in the wild setting (it reads ground-truth quality).
        needs_lookahead: receives ``RoundState.lookahead`` (oracle setting only; implies needs_oracle).
        stochastic: its choices depend on the seed (``compare`` runs it once per seed).
        name_argument: the option that ``name:<argument>`` sets (``human:alice`` -> participant), or None.
    """

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    needs_oracle: ClassVar[bool] = False
    needs_lookahead: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False
    name_argument: ClassVar[str | None] = None

    def __init__(self, seed: int = 0, rounds: int = 8) -> None:
        self.seed = int(seed)
        self.rounds = max(1, int(rounds))
        self.sample: SampleInfo | None = None

    def reset(self, sample: SampleInfo) -> None:
        """A new sample starts."""
        self.sample = sample

    def recommend(self, state: RoundState) -> int:
        """The frame to annotate next (0..n_frames-1)."""
        raise NotImplementedError(f"strategy '{self.name}' does not implement recommend()")

    def close(self) -> None:
        """Release resources (a UI, a server). Default: nothing."""

    @classmethod
    def provenance(cls, options: dict, setting: str) -> dict:
        """What a run's config.json should record beyond the options to reproduce this strategy (e.g.
        the weights file a default resolved to, and its digest). Default: nothing."""
        return {}
