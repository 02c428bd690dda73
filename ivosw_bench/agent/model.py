"""The agent's Q-network: per-frame state features -> bidirectional LSTM shared over the frame axis ->
a linear head on every time step -> one Q value per frame.

The LSTM runs over frames, so one network serves videos of any length. Training uses PyTorch;
choosing a frame at run time uses :func:`numpy_q_values`, the same network evaluated with NumPy
(equal to 1e-5; a few milliseconds for 100 frames, no thread pool to wake up).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .features import STATE_MODES, n_features, state_features  # noqa: F401 (re-exported)


def state_tensor(quality, history, state: str = "paper", t: int = 1, rounds: int = 8) -> torch.Tensor:
    """``[N, F]`` float32 features of one state as a tensor (see :mod:`.features`)."""
    return torch.from_numpy(state_features(quality, history, t, rounds, state))


class QNetwork(nn.Module):
    """``forward(x[B, N, F]) -> Q[B, N]``: a Q value for annotating each frame next."""

    def __init__(self, in_features: int = 2, hidden: int = 64, layers: int = 1):
        super().__init__()
        self.in_features, self.hidden, self.layers = int(in_features), int(hidden), int(layers)
        self.embed = nn.Sequential(nn.Linear(self.in_features, self.hidden), nn.ReLU())
        self.lstm = nn.LSTM(self.hidden, self.hidden, num_layers=self.layers, batch_first=True,
                            bidirectional=True)
        self.head = nn.Linear(2 * self.hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Q [B, N]. ``lengths`` [B]: videos of different lengths padded to N (padding is ignored by
        the LSTM in both directions; its Q values are meaningless and must be masked)."""
        if x.dim() == 2:  # a single video [N, F]
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"expected input [B, N, {self.in_features}], got {tuple(x.shape)}")
        e = self.embed(x)
        if lengths is None:
            y, _ = self.lstm(e)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
            y, _ = self.lstm(packed)
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.head(y).squeeze(-1)

    def hparams(self) -> dict:
        return {"in_features": self.in_features, "hidden": self.hidden, "layers": self.layers}


def _lstm_direction(x: np.ndarray, w_ih, w_hh, b, reverse: bool) -> np.ndarray:
    """One direction of one PyTorch LSTM layer over x [N, D] -> [N, H] (gates i, f, g, o)."""
    n, hdim = len(x), w_hh.shape[1]
    pre = x @ w_ih.T + b  # input part of every step at once
    h = np.zeros(hdim, np.float32)
    c = np.zeros(hdim, np.float32)
    out = np.empty((n, hdim), np.float32)
    steps = range(n - 1, -1, -1) if reverse else range(n)
    for k in steps:
        g = pre[k] + w_hh @ h
        i, f = 1.0 / (1.0 + np.exp(-g[:hdim])), 1.0 / (1.0 + np.exp(-g[hdim:2 * hdim]))
        cand, o = np.tanh(g[2 * hdim:3 * hdim]), 1.0 / (1.0 + np.exp(-g[3 * hdim:]))
        c = f * c + i * cand
        h = o * np.tanh(c)
        out[k] = h
    return out


def numpy_weights(net: QNetwork) -> dict:
    """The network's parameters as float32 NumPy arrays (for :func:`numpy_q_values`)."""
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}


def numpy_q_values(w: dict, x: np.ndarray, layers: int) -> np.ndarray:
    """Q [N] of one video's features x [N, F] with weights from :func:`numpy_weights`."""
    y = np.maximum(np.asarray(x, np.float32) @ w["embed.0.weight"].T + w["embed.0.bias"], 0.0)
    for layer in range(layers):
        dirs = []
        for suffix, reverse in (("", False), ("_reverse", True)):
            p = f"l{layer}{suffix}"
            dirs.append(_lstm_direction(y, w[f"lstm.weight_ih_{p}"], w[f"lstm.weight_hh_{p}"],
                                        w[f"lstm.bias_ih_{p}"] + w[f"lstm.bias_hh_{p}"], reverse))
        y = np.concatenate(dirs, axis=1)
    return (y @ w["head.weight"].T + w["head.bias"])[:, 0]


FORMAT = "ivosw-agent-1"


def save_weights(net: QNetwork, path, extra: dict | None = None) -> None:
    """Weights + the hyperparameters needed to rebuild the network (+ ``extra``: state mode, action
    space, training record); written atomically."""
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
