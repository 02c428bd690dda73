"""The ``agent`` strategy: the trained Bi-LSTM Q-network picks the next frame from the state.

``state.quality`` is ground-truth J&F in the oracle setting and the QA network's prediction in the
wild setting, so the strategy itself never needs ground truth (``needs_oracle = False``). The state
mode (``paper``: q and h; ``rich``: plus positions, distances, gaps, rounds left; see
:mod:`.features`) and the action space (``free``: frames not annotated yet; ``all``: any frame, the
paper's) are those the network was trained with, read from its weights file, so that training and
use never disagree; ``allow_repeats`` overrides the action space for ablations.

A weights file may hold an ensemble (several seeds saved together by ``save_ensemble``): their Q
values, each standardised over the video's frames, are averaged before the argmax.

``agent_weights`` may also be a k-fold manifest (``.json``, written by ``scripts/agent_splits.py``):
``{"kind": "ivosw-agent-kfold", "folds": [{"test_sequences": [...], "weights": {"<seed>": path}}]}``;
each sample is then played by the network that never saw its sequence, trained with the run's
``--seed``, so one run covers every fold of a k-fold evaluation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WeightsError

from ..strategies.base import RoundState, Strategy
from ..weights import default_weights
from .cues import prediction_cues
from .features import allowed_actions, state_features
from .model import combine_q, load_weights, numpy_q_values, numpy_weights

DEFAULT_WEIGHTS = default_weights("agent")
DEFAULT_WILD_WEIGHTS = default_weights("agent-wild")


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
                 allow_repeats: bool | None = None, setting: str = "oracle") -> None:
        super().__init__(seed, rounds)
        self.weights_path = weights_for(agent_weights, setting)
        self.allow_repeats = allow_repeats
        self.folds = _read_manifest(self.weights_path, seed) if self.weights_path.suffix == ".json" else None
        self._use(self.folds[0][1] if self.folds else self.weights_path)

    @classmethod
    def provenance(cls, options: dict, setting: str) -> dict:
        """The weights file the run uses (a default resolved) and its SHA-256."""
        import hashlib

        path = weights_for(options.get("agent_weights"), setting)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = None
        return {"agent_weights": str(path.resolve()), "agent_weights_sha256": digest}

    def _use(self, path: Path) -> None:
        net, blob = load_agent(path)
        self.state_mode = str(blob.get("state", "paper"))
        self.action_space = str(blob.get("action_space", "free"))
        if self.allow_repeats is not None:
            self.action_space = "all" if self.allow_repeats else "free"
        self._w, self._layers = numpy_weights(net), net.layers
        self.net, self.active = net, Path(path)

    def reset(self, sample) -> None:
        super().reset(sample)
        if self.folds:
            match = [w for seqs, w in self.folds if sample.sequence in seqs]
            if not match:
                raise WeightsError(f"{self.weights_path}: sequence '{sample.sequence}' is in no fold of the manifest")
            if match[0] != self.active:
                self._use(match[0])

    def q_values(self, state: RoundState) -> np.ndarray:
        cues = None
        if self.state_mode == "rich" and state.prediction is not None:
            pred = state.prediction()
            if pred is not None:
                cues = prediction_cues(np.asarray(pred.labels), pred.low_res_probs)
        x = state_features(state.quality, state.history, state.t, state.rounds, self.state_mode, cues)
        q = numpy_q_values(self._w, x, self._layers)
        return combine_q(q) if q.ndim == 2 else q

    def recommend(self, state: RoundState) -> int:
        q = self.q_values(state).astype(np.float64)
        q[~allowed_actions(state.history, self.action_space)] = -np.inf
        return int(np.argmax(q))


def weights_for(agent_weights, setting: str) -> Path:
    """The weights file of the agent strategy: the given one, else the setting's default (the wild
    one when shipped, else the oracle one)."""
    if agent_weights:
        return Path(agent_weights)
    return DEFAULT_WILD_WEIGHTS if setting == "wild" and DEFAULT_WILD_WEIGHTS.is_file() else DEFAULT_WEIGHTS


def _read_manifest(path: Path, seed: int) -> list[tuple[set, Path]]:
    """[(test sequences, weights path for this seed)] of a k-fold manifest; WeightsError naming it."""
    from ..files import read_json

    data = read_json(path, WeightsError, "k-fold manifest")
    if not isinstance(data, dict) or data.get("kind") != "ivosw-agent-kfold" or not data.get("folds"):
        raise WeightsError(f"{path}: not an ivosw-bench k-fold manifest (kind 'ivosw-agent-kfold' with folds)")
    out = []
    for fold in data["folds"]:
        weights = fold.get("weights", {})
        w = weights.get(str(seed)) if isinstance(weights, dict) else None
        if w is None:
            raise WeightsError(f"{path}: a fold has no weights for seed {seed} (has: {', '.join(weights) or 'none'})")
        w = Path(w) if Path(w).is_absolute() else path.parent / w
        out.append((set(fold["test_sequences"]), w))
    return out
