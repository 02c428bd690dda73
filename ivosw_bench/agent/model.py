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


def combine_q(qs, valid=None):
    """One Q per frame from several networks' Q values ``qs`` [M, ..., N]: each network's values are
    standardised over the frames of its video (``valid`` [..., N] marks real frames when padded),
    then averaged. Argmax-equivalent to the only network when M = 1 (returned unchanged then)."""
    if len(qs) == 1:
        return qs[0]
    if isinstance(qs, torch.Tensor):
        v = torch.ones_like(qs[0], dtype=torch.bool) if valid is None else valid
        n = v.sum(-1, keepdim=True).clamp(min=1)
        mean = (qs * v).sum(-1, keepdim=True) / n
        std = (((qs - mean) * v) ** 2).sum(-1, keepdim=True).div(n).sqrt()
        return ((qs - mean) / (std + 1e-6)).mean(0)
    qs = np.asarray(qs, np.float64)
    z = (qs - qs.mean(-1, keepdims=True)) / (qs.std(-1, keepdims=True) + 1e-6)
    return z.mean(0)


class QEnsemble(nn.Module):
    """Several Q-networks of the same shape (e.g. seeds) acting as one: ``forward`` returns
    :func:`combine_q` of their Q values (each standardised per video, then averaged)."""

    def __init__(self, members: int = 2, in_features: int = 2, hidden: int = 64, layers: int = 1):
        super().__init__()
        if int(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {members}")
        self.members = nn.ModuleList(QNetwork(in_features, hidden, layers) for _ in range(int(members)))
        self.in_features, self.hidden, self.layers = int(in_features), int(hidden), int(layers)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        qs = torch.stack([m(x, lengths) for m in self.members])
        valid = None
        if lengths is not None:
            valid = torch.arange(qs.shape[-1])[None, :] < lengths.reshape(-1, 1).cpu()
        return combine_q(qs, valid)

    def hparams(self) -> dict:
        return {"members": len(self.members), **self.members[0].hparams()}


def member_networks(net) -> list[QNetwork]:
    """The Q-networks that make up ``net`` (itself when it is a single network)."""
    return list(net.members) if isinstance(net, QEnsemble) else [net]


def _lstm_direction(x: np.ndarray, w_ih, w_hh, b, reverse: bool) -> np.ndarray:
    """One direction of one PyTorch LSTM layer (gates i, f, g, o) for M networks at once:
    x [M, N, D], w_ih [M, 4H, D], w_hh [M, 4H, H], b [M, 4H] -> [M, N, H]."""
    m, n, hdim = x.shape[0], x.shape[1], w_hh.shape[2]
    pre = x @ w_ih.transpose(0, 2, 1) + b[:, None, :]  # input part of every step at once
    h = np.zeros((m, hdim), np.float32)
    c = np.zeros((m, hdim), np.float32)
    out = np.empty((m, n, hdim), np.float32)
    steps = range(n - 1, -1, -1) if reverse else range(n)
    for k in steps:
        g = pre[:, k] + (w_hh @ h[:, :, None])[:, :, 0]
        i, f = 1.0 / (1.0 + np.exp(-g[:, :hdim])), 1.0 / (1.0 + np.exp(-g[:, hdim:2 * hdim]))
        cand, o = np.tanh(g[:, 2 * hdim:3 * hdim]), 1.0 / (1.0 + np.exp(-g[:, 3 * hdim:]))
        c = f * c + i * cand
        h = o * np.tanh(c)
        out[:, k] = h
    return out


def numpy_weights(net) -> dict:
    """The parameters of a network, or of an ensemble's members stacked on a leading axis, as float32
    NumPy arrays (for :func:`numpy_q_values`)."""
    members = [{k: v.detach().cpu().numpy().astype(np.float32) for k, v in m.state_dict().items()}
               for m in member_networks(net)]
    if len(members) == 1:
        return members[0]
    return {k: np.stack([w[k] for w in members]) for k in members[0]}


def numpy_q_values(w: dict, x: np.ndarray, layers: int) -> np.ndarray:
    """Q [N] of one video's features x [N, F] with weights from :func:`numpy_weights`; for an
    ensemble's stacked weights, every member's Q [M, N] (all members step through the frames together)."""
    single = w["embed.0.weight"].ndim == 2
    if single:
        w = {k: v[None] for k, v in w.items()}
    x = np.asarray(x, np.float32)
    y = np.maximum(x @ w["embed.0.weight"].transpose(0, 2, 1) + w["embed.0.bias"][:, None, :], 0.0)
    for layer in range(layers):
        dirs = []
        for suffix, reverse in (("", False), ("_reverse", True)):
            p = f"l{layer}{suffix}"
            dirs.append(_lstm_direction(y, w[f"lstm.weight_ih_{p}"], w[f"lstm.weight_hh_{p}"],
                                        w[f"lstm.bias_ih_{p}"] + w[f"lstm.bias_hh_{p}"], reverse))
        y = np.concatenate(dirs, axis=2)
    q = (y @ w["head.weight"].transpose(0, 2, 1))[..., 0] + w["head.bias"]
    return q[0] if single else q


FORMAT = "ivosw-agent-1"


def save_weights(net: QNetwork, path, extra: dict | None = None) -> None:
    """Weights + the hyperparameters needed to rebuild the network (+ ``extra``: state mode, action
    space, training record); written atomically."""
    from ..files import atomic_open

    with atomic_open(path, "wb") as fh:
        torch.save({"format": FORMAT, "hparams": net.hparams(), "state_dict": net.state_dict(),
                    **(extra or {})}, fh)


def load_weights(path=None) -> tuple[QNetwork | QEnsemble, dict]:
    """(network in eval mode, the whole saved dict) from ``path`` (default: the shipped weights).
    :class:`~ivosw_bench.errors.WeightsError` naming the file when it is missing or does not fit."""
    from .. import weights

    path = weights.resolve_weights("agent", path)
    blob = weights.read_checkpoint(path, "agent", formats=(FORMAT,), required=("hparams", "state_dict"))
    try:
        hp = dict(blob["hparams"])
        net = QEnsemble(**hp) if "members" in hp else QNetwork(**hp)
    except (TypeError, ValueError) as exc:
        raise weights.WeightsError(f"{path}: not a valid agent weights file (hparams: {exc})") from None
    weights.load_state(net, blob["state_dict"], path, "agent")
    net.eval()
    return net, blob


def save_ensemble(paths, out, extra: dict | None = None) -> dict:
    """One weights file at ``out`` that acts as the networks in ``paths`` together (:class:`QEnsemble`).
    The members must share the network shape, state mode and action space; their training records are
    kept under ``members``. Returns the saved metadata (without tensors)."""
    from .. import weights

    paths = [str(p) for p in paths]
    if len(paths) < 2:
        raise weights.WeightsError(f"an ensemble needs at least 2 weights files, got {len(paths)}")
    loaded = [load_weights(p) for p in paths]
    first_net, first = loaded[0]
    for p, (net, _) in zip(paths, loaded):
        if isinstance(net, QEnsemble):
            raise weights.WeightsError(f"{p}: is itself an ensemble; list its members instead")
    for p, (net, blob) in zip(paths[1:], loaded[1:]):
        for key in ("state", "action_space"):
            if blob.get(key, "paper") != first.get(key, "paper"):
                raise weights.WeightsError(f"{p}: {key} {blob.get(key)!r} differs from {paths[0]}'s {first.get(key)!r}")
        if net.hparams() != first_net.hparams():
            raise weights.WeightsError(f"{p}: network {net.hparams()} differs from {paths[0]}'s {first_net.hparams()}")
    ens = QEnsemble(len(paths), **first_net.hparams())
    for member, (net, _) in zip(ens.members, loaded):
        member.load_state_dict(net.state_dict())
    meta = {"state": first.get("state", "paper"), "action_space": first.get("action_space", "free"),
            **{k: first[k] for k in ("setting", "rounds") if k in first},
            "combine": "mean of per-video standardised Q",
            "members": [{"path": p, **{k: v for k, v in blob.items() if k not in ("state_dict", "format")}}
                        for p, (_, blob) in zip(paths, loaded)], **(extra or {})}
    save_weights(ens, out, meta)
    return meta
