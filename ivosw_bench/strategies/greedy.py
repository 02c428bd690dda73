"""Greedy-oracle: the one-step look-ahead ceiling (oracle setting only).

Each round it lets the robot scribble every candidate frame on the current prediction, runs the
backend, and keeps the frame whose next-round J&F (against ground truth) is best; the run's own state
is left as it was (``RoundState.lookahead``: backend ``snapshot()``/``restore()``, or a replay for
backends without them). A recommender is judged by the share of (greedy - Random) it captures.

Its cost is one backend round per candidate, reported as the strategy's seconds per round.
"""
from __future__ import annotations

import numpy as np

from ..errors import RunError
from .base import RoundState, Strategy


def candidate_frames(n_frames: int, allowed: np.ndarray, k: int | None) -> np.ndarray:
    """``allowed`` frames, or ``k`` of them evenly spaced over the video (deterministic)."""
    allowed = np.asarray(allowed)
    if k is None or k >= len(allowed):
        return allowed
    picks = np.unique(np.round(np.linspace(0, len(allowed) - 1, k)).astype(int))
    return allowed[picks]


class GreedyOracleStrategy(Strategy):
    """Argmax over candidate frames of the true next-round J&F (a look-ahead with ground truth)."""

    name = "greedy-oracle"
    needs_oracle = True
    needs_lookahead = True
    description = "ceiling: tries candidate frames with the robot and backend, keeps the best next-round J&F"

    def __init__(self, seed: int = 0, rounds: int = 8, candidates: int | None = None,
                 allow_repeats: bool = True) -> None:
        """``candidates``: try this many frames, evenly spaced (default: every frame);
        ``allow_repeats``: annotated frames are candidates too (a frame may be corrected again)."""
        super().__init__(seed, rounds)
        if candidates is not None and int(candidates) < 1:
            raise RunError(f"--candidates must be >= 1, not {candidates}")
        self.candidates = None if candidates is None else int(candidates)
        self.allow_repeats = bool(allow_repeats)
        self.last_scores: np.ndarray | None = None

    def recommend(self, state: RoundState) -> int:
        if state.t >= state.rounds:  # the last round's choice is never scribbled: nothing to try
            return int(state.unannotated()[0])
        if state.lookahead is None:
            raise RunError("greedy-oracle needs the look-ahead of the oracle setting")
        allowed = np.arange(state.n_frames) if self.allow_repeats else state.unannotated()
        frames = candidate_frames(state.n_frames, allowed, self.candidates)
        scores = np.asarray(state.lookahead([int(f) for f in frames]), np.float64)
        self.last_scores = scores
        return int(frames[int(np.argmax(scores))])
