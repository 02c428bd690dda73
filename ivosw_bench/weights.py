"""Weights files: the shipped defaults in one table, and one rule for loading any checkpoint.

    path = resolve_weights("agent", user_path)            # user's path, else the shipped default
    blob = read_checkpoint(path, "agent", formats=(...))  # a dict written by this project
    load_state(net, blob["state_dict"], path, "agent")    # shapes checked, one-line error

Every failure (missing file, not a PyTorch file, another project's file, tensors of the wrong shape)
is a :class:`~ivosw_bench.errors.WeightsError` whose one line names the file and what is wrong.
"""
from __future__ import annotations

from pathlib import Path

from .errors import WeightsError, one_line

REPO_ROOT = Path(__file__).resolve().parents[1]
#: kind -> shipped weights (paths relative to the repository)
DEFAULT_WEIGHTS = {
    "quality": Path("weights") / "quality-classic.pt",
    "agent": Path("weights") / "agent-classic.pt",             # trained on oracle quality
    "agent-wild": Path("weights") / "agent-classic-wild.pt",   # trained on the QA network's quality
}
#: what to tell a user whose weights file is missing
HOW_TO_GET = {
    "quality": "train one with 'ivosw-bench train-quality' or pass --quality-weights PATH",
    "agent": "train them with 'ivosw-bench train-agent' or pass --agent-weights PATH",
    "agent-wild": "train them with 'ivosw-bench train-agent --setting wild' or pass --agent-weights PATH",
}


def default_weights(kind: str) -> Path:
    """The shipped weights of ``kind`` (``quality`` or ``agent``)."""
    return REPO_ROOT / DEFAULT_WEIGHTS[kind]


def resolve_weights(kind: str, path=None) -> Path:
    """``path`` when given, else the shipped default; :class:`WeightsError` when the file is missing."""
    resolved = Path(path).expanduser() if path not in (None, "") else default_weights(kind)
    if not resolved.is_file():
        raise WeightsError(f"{resolved}: {kind} weights not found ({HOW_TO_GET[kind]})")
    return resolved


def read_checkpoint(path, kind: str, formats: tuple[str, ...] = (), required=("state_dict",)) -> dict:
    """The dict saved in ``path`` (tensors on the CPU), checked to be this project's ``kind`` file:
    its ``format`` is one of ``formats`` (when given) and it has the ``required`` keys."""
    import torch

    from torch.torch_version import TorchVersion

    path = resolve_weights(kind, path)
    try:
        with torch.serialization.safe_globals([TorchVersion]):  # a version string in the metadata
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torn, foreign or not a PyTorch file
        raise WeightsError(f"{path}: not a valid {kind} weights file ({type(exc).__name__}: "
                           f"{one_line(exc)[:160]})") from None
    if not isinstance(blob, dict) or any(k not in blob for k in required):
        raise WeightsError(f"{path}: not a valid {kind} weights file (not an ivosw-bench {kind} checkpoint)")
    if formats and blob.get("format") not in formats:
        raise WeightsError(f"{path}: not a valid {kind} weights file (format {blob.get('format')!r}, "
                           f"expected {' or '.join(formats)})")
    return blob


def load_state(net, state_dict: dict, path, kind: str) -> None:
    """``net.load_state_dict(state_dict)`` (strict; half-precision tensors cast to the network's
    dtype) with a one-line :class:`WeightsError` naming the file when names or shapes do not fit."""
    try:
        own = net.state_dict()
        state = {k: (v.to(own[k].dtype) if k in own and v.is_floating_point() else v)
                 for k, v in state_dict.items()}
        net.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - size mismatch, missing/unexpected keys, not tensors
        msg = one_line(exc)
        if "size mismatch" in msg:
            msg = msg[msg.index("size mismatch"):]
        raise WeightsError(f"{path}: not a valid {kind} weights file (the tensors do not fit the "
                           f"network it describes: {msg[:200]})") from None
