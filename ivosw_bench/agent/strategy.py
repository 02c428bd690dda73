"""The ``agent`` strategy: the trained Bi-LSTM Q-network picks the next frame from the state.

``state.quality`` is ground-truth J&F in the oracle setting and the QA network's prediction in the
wild setting, so the strategy itself never needs ground truth (``needs_oracle = False``). The state
mode (``paper``: q and h; ``rich``: plus positions, distances, gaps, rounds left; see
:mod:`.features`) and the action space (``free``: frames not annotated yet; ``all``: any frame, the
paper's) are those the network was trained with, read from its weights file, so that training and
use never disagree; ``allow_repeats`` overrides the action space for ablations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..strategies.base import RoundState, Strategy
from ..weights import default_weights
from .cues import prediction_cues
from .features import allowed_actions, state_features
from .model import load_weights, numpy_q_values, numpy_weights

DEFAULT_WEIGHTS = default_weights("agent")


def load_agent(path=None):
    """(network, its saved dict) from a weights file (default: the shipped one); WeightsError naming
    the path."""
    return load_weights(path)


class AgentStrategy(Strategy):
    """Argmax of the learned Q values over the allowed frames (Yin et al., CVPR 2021)."""

    name = "agent"
    needs_oracle = False
    description = "learned Bi-LSTM double-DQN recommender over per-frame quality, history and positions"

    def __init__(self, seed: int = 0, rounds: int = 8, agent_weights: str | Path | None = None,
                 allow_repeats: bool | None = None) -> None:
        super().__init__(seed, rounds)
        self.weights_path = Path(agent_weights) if agent_weights else DEFAULT_WEIGHTS
        net, blob = load_agent(self.weights_path)
        self.state_mode = str(blob.get("state", "paper"))
        self.action_space = str(blob.get("action_space", "free"))
        if allow_repeats is not None:
            self.action_space = "all" if allow_repeats else "free"
        self._w, self._layers = numpy_weights(net), net.layers
        self.net = net

    def q_values(self, state: RoundState) -> np.ndarray:
        cues = None
        if self.state_mode == "rich" and state.prediction is not None:
            pred = state.prediction()
            if pred is not None:
                cues = prediction_cues(np.asarray(pred.labels), pred.low_res_probs)
        x = state_features(state.quality, state.history, state.t, state.rounds, self.state_mode, cues)
        return numpy_q_values(self._w, x, self._layers)

    def recommend(self, state: RoundState) -> int:
        q = self.q_values(state).astype(np.float64)
        q[~allowed_actions(state.history, self.action_space)] = -np.inf
        return int(np.argmax(q))
