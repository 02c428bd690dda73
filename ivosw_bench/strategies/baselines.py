"""The paper's baseline strategies: Random, Linspace and Worst (oracle quality)."""
from __future__ import annotations

import zlib

import numpy as np

from .base import RoundState, SampleInfo, Strategy


class RandomStrategy(Strategy):
    """Uniformly random frame; repeats allowed (the paper's version). Seeded per sample."""

    name = "random"
    stochastic = True
    description = "uniform random frame, repeats allowed (seeded)"

    def reset(self, sample: SampleInfo) -> None:
        super().reset(sample)
        key = zlib.crc32(f"{sample.sequence}/{sample.scribble_idx}".encode())
        self.rng = np.random.default_rng([self.seed, key])

    def recommend(self, state: RoundState) -> int:
        return int(self.rng.integers(state.n_frames))


class LinspaceStrategy(Strategy):
    """Evenly spaced frames starting from the first annotated frame, no repeats.

    With the first annotated frame a and T frames, round t (1-based) picks
    ``(a + round(t * T / R)) mod T`` with R = the run's number of rounds; a frame already annotated is
    replaced by the nearest unannotated one.
    """

    name = "linspace"
    description = "evenly spaced from the first annotated frame, no repeats"

    def recommend(self, state: RoundState) -> int:
        n = state.n_frames
        start = state.annotated[0]
        target = (start + int(round(state.t * n / self.rounds))) % n
        free = state.unannotated()
        # nearest free frame in circular distance, ties to the later frame
        dist = np.minimum(np.abs(free - target), n - np.abs(free - target))
        return int(free[np.lexsort((-free, dist))[0]])


class WorstStrategy(Strategy):
    """Argmin of the per-frame quality among frames not yet annotated (ties: the earliest)."""

    name = "worst"

    def recommend(self, state: RoundState) -> int:
        free = state.unannotated()
        q = np.asarray(state.quality, dtype=np.float64)[free]
        return int(free[int(np.argmin(q))])


class WorstOracleStrategy(WorstStrategy):
    """Worst frame by ground-truth J&F: needs the oracle setting."""

    name = "worst-oracle"
    needs_oracle = True
    description = "frame with the lowest ground-truth J&F among unannotated frames"
