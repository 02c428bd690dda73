"""The agent's Q-network: per-frame state (quality q, annotation count h) -> bidirectional LSTM shared
over the frame axis -> a linear head on every time step -> one Q value per frame.

The LSTM runs over frames, so one network serves videos of any length: training batches windows of
one length (N' = 25), inference takes a whole video (``[1, N, 2]``).
"""
from __future__ import annotations

import torch
from torch import nn

#: which state features the network sees (ablation of the paper's Table 6)
STATE_MODES = ("both", "q", "h")


def state_tensor(quality, history, state: str = "both") -> torch.Tensor:
    """``[N]`` quality and ``[N]`` history -> ``[N, 2]`` float32 features (a masked feature is zero)."""
    q = torch.as_tensor(quality, dtype=torch.float32).reshape(-1)
    h = torch.as_tensor(history, dtype=torch.float32).reshape(-1)
    if state == "q":
        h = torch.zeros_like(h)
    elif state == "h":
        q = torch.zeros_like(q)
    elif state != "both":
        raise ValueError(f"state must be one of {STATE_MODES}, not '{state}'")
    return torch.stack([q, h], dim=-1)


class QNetwork(nn.Module):
    """``forward(x[B, N, 2]) -> Q[B, N]``: a Q value for annotating each frame next."""

    def __init__(self, in_features: int = 2, hidden: int = 64, layers: int = 1):
        super().__init__()
        self.in_features, self.hidden, self.layers = int(in_features), int(hidden), int(layers)
        self.embed = nn.Sequential(nn.Linear(self.in_features, self.hidden), nn.ReLU())
        self.lstm = nn.LSTM(self.hidden, self.hidden, num_layers=self.layers, batch_first=True,
                            bidirectional=True)
        self.head = nn.Linear(2 * self.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # a single video [N, F]
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"expected input [B, N, {self.in_features}], got {tuple(x.shape)}")
        y, _ = self.lstm(self.embed(x))
        return self.head(y).squeeze(-1)

    def hparams(self) -> dict:
        return {"in_features": self.in_features, "hidden": self.hidden, "layers": self.layers}


FORMAT = "ivosw-agent-1"


def save_weights(net: QNetwork, path, extra: dict | None = None) -> None:
    """Weights + the hyperparameters needed to rebuild the network (+ ``extra``, e.g. the state mode);
    written atomically."""
    from ..files import atomic_open

    with atomic_open(path, "wb") as fh:
        torch.save({"format": FORMAT, "hparams": net.hparams(), "state_dict": net.state_dict(),
                    **(extra or {})}, fh)


def load_weights(path=None) -> tuple[QNetwork, dict]:
    """(network in eval mode, the whole saved dict) from ``path`` (default: the shipped weights).
    :class:`~ivosw_bench.errors.WeightsError` naming the file when it is missing or does not fit."""
    from .. import weights

    path = weights.resolve_weights("agent", path)
    blob = weights.read_checkpoint(path, "agent", formats=(FORMAT,), required=("hparams", "state_dict"))
    try:
        net = QNetwork(**blob["hparams"])
    except (TypeError, ValueError) as exc:
        raise weights.WeightsError(f"{path}: not a valid agent weights file (hparams: {exc})") from None
    weights.load_state(net, blob["state_dict"], path, "agent")
    net.eval()
    return net, blob
