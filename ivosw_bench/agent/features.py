"""The agent's state: per-frame features from what a strategy sees after round t.

Two state modes:

- ``paper``: (q_t, h_t) per frame, the paper's state (its Table 6 ablates q / h alone: ``q``, ``h``).
- ``rich``: the paper's state plus what Linspace uses and an LSTM would otherwise have to count
  through up to a hundred steps: whether the frame is annotated, its position, the distance to the
  nearest annotation on each side and to the nearest at all, the length of the unannotated gap it
  lies in, whether that gap reaches the video's end, the rounds left, and the video's length; and
  the prediction's ground-truth-free cues (:mod:`.cues`: object area, its jumps, flicker,
  uncertainty), which carry information about errors in the wild setting too.

Distances are fractions of the video length, so one network serves videos of any length.
"""
from __future__ import annotations

import numpy as np

STATE_MODES = ("rich", "paper", "q", "h")
ALIASES = {"both": "paper"}  # the name of the paper's state in weights written before "rich" existed
RICH_FEATURES = ("q", "h", "annotated", "position", "dist_left", "dist_right", "dist_nearest", "gap",
                 "open_end", "rounds_left", "round", "log_length", "area", "area_jump", "flicker", "uncertainty")


def n_features(mode: str) -> int:
    mode = ALIASES.get(mode, mode)
    if mode not in STATE_MODES:
        raise ValueError(f"state must be one of {', '.join(STATE_MODES)}, not {mode!r}")
    return len(RICH_FEATURES) if mode == "rich" else 2


def _sides(annotated_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every frame, the index of the nearest annotated frame at or before it (-1: none) and at
    or after it (-1: none)."""
    n = len(annotated_mask)
    idx = np.arange(n)
    left = np.where(annotated_mask, idx, -1)
    left = np.maximum.accumulate(left)
    right = np.where(annotated_mask, idx, n)
    right = np.minimum.accumulate(right[::-1])[::-1]
    return left, np.where(right == n, -1, right)


def state_features(quality, history, t: int, rounds: int, mode: str = "rich",
                   cues: np.ndarray | None = None) -> np.ndarray:
    """[N, F] float32 features of one state (``t`` rounds done of ``rounds``; ``cues`` [N, 4] from
    :func:`ivosw_bench.agent.cues.prediction_cues`, zeros when None)."""
    mode = ALIASES.get(mode, mode)
    q = np.asarray(quality, np.float32).reshape(-1)
    h = np.asarray(history, np.float32).reshape(-1)
    n = len(q)
    if mode == "paper":
        return np.stack([q, h], 1)
    if mode == "q":
        return np.stack([q, np.zeros_like(h)], 1)
    if mode == "h":
        return np.stack([np.zeros_like(q), h], 1)
    if mode != "rich":
        raise ValueError(f"state must be one of {', '.join(STATE_MODES)}, not {mode!r}")
    ann = h > 0
    idx = np.arange(n, dtype=np.float32)
    left, right = _sides(ann)
    scale = float(max(n, 1))
    has_l, has_r = left >= 0, right >= 0
    d_left = np.where(has_l, (idx - left) / scale, 1.0)
    d_right = np.where(has_r, (right - idx) / scale, 1.0)
    gap_l = np.where(has_l, left, -1.0)           # the video's start/end bound an open gap
    gap_r = np.where(has_r, right, float(n))
    gap = (gap_r - gap_l) / scale
    open_end = (~has_l | ~has_r).astype(np.float32)
    rounds = max(int(rounds), 1)
    cols = [q, np.minimum(h, 3) / 3.0, ann.astype(np.float32), idx / max(n - 1, 1), d_left, d_right,
            np.minimum(d_left, d_right), gap, open_end, np.full(n, (rounds - t) / rounds),
            np.full(n, t / rounds), np.full(n, np.log(max(n, 1)) / 5.0)]
    cue = np.zeros((n, 4), np.float32) if cues is None else np.asarray(cues, np.float32).reshape(n, 4)
    scale = np.array([1.0, 10.0, 1.0, 2.0], np.float32)  # area jumps are small: bring each to ~[0, 1]
    return np.concatenate([np.stack(cols, 1), np.clip(cue * scale, 0.0, 1.0)], 1).astype(np.float32)


def allowed_actions(history, action_space: str) -> np.ndarray:
    """Boolean [N]: the frames an agent may choose (``free``: not annotated yet, all if every frame
    is; ``all``: every frame)."""
    h = np.asarray(history)
    if action_space == "all":
        return np.ones(len(h), bool)
    if action_space != "free":
        raise ValueError(f"action_space must be 'free' or 'all', not {action_space!r}")
    free = h == 0
    return free if free.any() else np.ones(len(h), bool)
