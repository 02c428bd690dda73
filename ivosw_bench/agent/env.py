"""The agent's environment: one sample = a window of N' consecutive frames around the initial scribble,
run with a real backend and davisinteractive's scribble robot against ground truth.

    env = AgentEnv(dataset, WindowSpec("bus", 1, start=3, length=25), cache=EpisodeCache(path))
    s = env.reset()          # after round 1 (the initial scribble): s.quality [N], s.history [N]
    s = env.step(frame)      # the robot scribbles ``frame``, the backend interacts -> next state

State per frame: quality q_t (oracle: ground-truth J&F averaged over objects, from
:class:`ivosw_bench.episode.Episode`; or ``quality_fn(frames, prediction)``, e.g. a learned QA
network for the wild setting) and history h_t (times the frame was annotated, the initial scribble
included, as :mod:`ivosw_bench.session` counts it). ``s.jf`` is davisinteractive's J&F of the window.

Everything goes through :class:`~ivosw_bench.episode.EpisodeCache` (keyed by sample and annotation
sequence, on disk when the cache has a path), so the random-policy baseline and the agent's rollouts
share work. ``env_scale`` < 1 runs the environment on downscaled video (frames INTER_AREA, ground
truth INTER_NEAREST; scribbles are in normalised coordinates so they carry over): the classic backend
at ``env_scale=0.5`` costs ~0.25 s a step on 25 frames instead of ~1.1 s at 480p.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .. import protocol
from ..episode import Episode, EpisodeCache, load_sample

QualityFn = Callable[[np.ndarray, object], np.ndarray]


@dataclass(frozen=True)
class WindowSpec:
    """A training sample: ``length`` frames of ``sequence`` from ``start`` (None: centred on the
    scribble frame), with the initial scribble ``scribble_idx`` (its frame must fall inside)."""

    sequence: str
    scribble_idx: int = 1
    start: int | None = None
    length: int | None = 25

    @property
    def name(self) -> str:
        return f"{self.sequence}#{self.scribble_idx}@{self.start}+{self.length}"


@dataclass
class AgentState:
    quality: np.ndarray  # [N] float64 in [0, 1]
    history: np.ndarray  # [N] int64
    jf: float            # J&F of the window (davisinteractive's: mean over objects of mean over frames)
    t: int               # rounds done (1 after reset)
    cues: np.ndarray | None = None  # [N, C] ground-truth-free cues of the prediction (agent.cues)


def make_windows(dataset, sequences: list[str], per_sequence: int = 1, length: int = 25) -> list[WindowSpec]:
    """``per_sequence`` windows of each sequence (every scribble), all containing the scribble frame.

    One window is centred on the scribble frame; with several, the scribble frame sits at evenly
    spaced positions inside them (near the start ... near the end), so the agent sees it at different
    places. Sequences shorter than ``length`` give one whole-video sample.
    """
    out: list[WindowSpec] = []
    for seq, idx in dataset.samples(sequences):
        n = dataset.sequences[seq]["num_frames"]
        if n <= length:
            out.append(WindowSpec(seq, idx, 0, n))
            continue
        scribble = protocol.load_scribble(dataset.root, seq, idx)
        marked = protocol.first_scribbled_frame(scribble)
        if per_sequence <= 1:
            starts = [min(max(0, marked - length // 2), n - length)]
        else:
            pos = np.linspace(2, length - 3, per_sequence).round().astype(int)
            starts = [min(max(0, marked - int(p)), n - length) for p in pos]
        for s in dict.fromkeys(starts):
            out.append(WindowSpec(seq, idx, int(s), length))
    return out


def downscale(frames: np.ndarray, gt: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Frames with INTER_AREA, ground truth with INTER_NEAREST (labels stay labels)."""
    if scale == 1.0:
        return frames, gt
    h, w = frames.shape[1:3]
    nh, nw = max(8, int(round(h * scale))), max(8, int(round(w * scale)))
    fr = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in frames])
    g = np.stack([cv2.resize(m.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) for m in gt])
    return fr, g.astype(gt.dtype)


class AgentEnv:
    """One training sample with its backend; ``reset()`` / ``step(frame)`` -> :class:`AgentState`."""

    def __init__(self, dataset, spec: WindowSpec, backend: str = "classic", backend_options: dict | None = None,
                 env_scale: float = 1.0, cache: EpisodeCache | None = None,
                 quality_fn: QualityFn | None = None, cues: bool = True):
        from ..registry import make_backend

        self.spec, self.env_scale = spec, float(env_scale)
        frames, gt, scribble = load_sample(dataset, spec.sequence, spec.scribble_idx, spec.start, spec.length)
        frames, gt = downscale(frames, gt, self.env_scale)
        n_obj = int(dataset.sequences[spec.sequence]["num_objects"])
        options = dict(backend_options or {})
        opt_digest = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:6]
        self.quality_fn = quality_fn
        self.episode = Episode(make_backend(backend, **options), spec.sequence, frames, gt, n_obj,
                               scribble, cache=cache,
                               key_extra=f"-w{spec.start}-s{self.env_scale:g}-o{opt_digest}",
                               keep_outputs=quality_fn is not None, cues=cues)
        self.n_frames = len(frames)
        self.history = np.zeros(self.n_frames, np.int64)
        self.t = 0

    @property
    def key(self) -> str:
        return self.episode.key

    @property
    def cache(self) -> EpisodeCache:
        return self.episode.cache

    def _state(self, outcome) -> AgentState:
        if self.quality_fn is None:
            q = np.asarray(outcome.jf_frames, np.float64)
        else:  # wild: the quality network sees frames and the backend's prediction, never GT
            q = np.asarray(self.quality_fn(self.episode.frames, outcome.probs), np.float64).reshape(-1)
        return AgentState(quality=q.copy(), history=self.history.copy(), jf=outcome.jf, t=self.t,
                          cues=outcome.cues)

    def reset(self) -> AgentState:
        outcome = self.episode.reset()
        self.history[:] = 0
        protocol.count_annotation(self.history, self.episode.initial, self.episode.initial_frame)
        self.t = 1
        return self._state(outcome)

    def step(self, frame: int) -> AgentState:
        outcome = self.episode.step(int(frame))
        self.history[int(frame)] += 1
        self.t += 1
        return self._state(outcome)

    def save(self) -> None:
        self.episode.save()
