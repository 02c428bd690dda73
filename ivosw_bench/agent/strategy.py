"""The ``agent`` strategy: the trained Bi-LSTM Q-network picks the next frame from (q_t, h_t).

``state.quality`` is ground-truth J&F in the oracle setting and the QA network's prediction in the
wild setting, so the strategy itself never needs ground truth (``needs_oracle = False``).

Re-picking: the paper's agent may choose an already annotated frame (its action space is every
frame; the diversity reward only discourages repeats). By default this strategy takes the argmax
over frames *not yet annotated* (like Worst), because the network was trained on 25-frame windows
and 5 steps, and test videos are 25-91 frames with 8 rounds: a repeat there is out of its training
distribution and wastes a round. ``allow_repeats=True`` gives the paper's unrestricted argmax.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from ..weights import default_weights
from ..strategies.base import RoundState, SampleInfo, Strategy
from .model import load_weights, state_tensor

DEFAULT_WEIGHTS = default_weights("agent")
AgentWeightsError = WeightsError  # the former name


def load_agent(path=None) -> tuple[torch.nn.Module, str]:
    """(Q-network, state mode) from a weights file (default: the shipped one); :class:`WeightsError`
    naming the path."""
    net, blob = load_weights(path)
    return net, str(blob.get("state", "both"))


class AgentStrategy(Strategy):
    """Argmax of the learned Q values over frames (Yin et al., CVPR 2021)."""

    name = "agent"
    needs_oracle = False
    description = "learned Bi-LSTM double-DQN recommender over per-frame quality and annotation history"

    def __init__(self, seed: int = 0, rounds: int = 8, agent_weights: str | Path | None = None,
                 allow_repeats: bool = False) -> None:
        super().__init__(seed, rounds)
        self.weights_path = Path(agent_weights) if agent_weights else DEFAULT_WEIGHTS
        self.allow_repeats = bool(allow_repeats)
        self.net, self.state_mode = load_agent(self.weights_path)

    def q_values(self, state: RoundState) -> np.ndarray:
        x = state_tensor(state.quality, state.history, self.state_mode)
        with torch.inference_mode():
            return self.net(x.unsqueeze(0))[0].numpy()

    def recommend(self, state: RoundState) -> int:
        q = self.q_values(state).astype(np.float64)
        if not self.allow_repeats:
            free = state.unannotated()
            return int(free[int(np.argmax(q[free]))])
        return int(np.argmax(q))

    def reset(self, sample: SampleInfo) -> None:
        super().reset(sample)
