"""Interactive episodes outside a davisinteractive session, for training (QA data, RL environment).

An :class:`Episode` is one sample (a video or a sub-sequence of it, its ground truth and initial
scribble) with a backend and davisinteractive's scribble robot: ``reset()`` runs round 1 on the
initial scribble, ``step(frame)`` has the robot scribble ``frame`` from the current prediction vs
ground truth and the backend interact. Each returns an :class:`Outcome` (per-frame, per-object J&F).

Results are cached by (sample, annotation sequence) in memory and optionally on disk: the robot is
deterministic (see compat) and so are the backends, so the same sequence of chosen frames always
gives the same masks. A cache hit skips the backend and the robot; the backend is only brought back
in sync (replaying the cached scribbles of the prefix) when a later step misses.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import compat
from .quality.oracle import per_frame_jf


@dataclass
class Outcome:
    """After a round: per-frame mean J&F (over objects) and per-object [T, K] J&F."""

    jf_frames: np.ndarray
    jf_objects: np.ndarray
    labels: np.ndarray | None = None  # only when computed in this call (not from the cache)
    probs: object = None  # the backend's Prediction when computed in this call

    @property
    def jf(self) -> float:
        """davisinteractive's sample J&F: mean over objects of the mean over frames."""
        return float(self.jf_objects.mean(axis=0).mean())


@dataclass
class _Node:
    jf_objects: np.ndarray  # float32 [T, K]
    scribble: dict | None  # the robot's scribble that led here (None at the root)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    backend_calls: int = 0

    @property
    def hit_rate(self) -> float:
        n = self.hits + self.misses
        return self.hits / n if n else 0.0


@dataclass
class EpisodeCache:
    """Cache of outcomes by (sample key, annotation prefix); ``path`` persists it (one pickle per sample)."""

    path: Path | None = None
    nodes: dict = field(default_factory=dict)
    stats: CacheStats = field(default_factory=CacheStats)
    _loaded: set = field(default_factory=set)

    def _file(self, key: str) -> Path | None:
        return None if self.path is None else Path(self.path) / f"{key}.pkl"

    def load(self, key: str) -> None:
        if key in self._loaded:
            return
        self._loaded.add(key)
        f = self._file(key)
        if f is not None and f.exists():
            try:
                self.nodes.update(pickle.loads(f.read_bytes()))
            except (pickle.UnpicklingError, EOFError):
                pass  # a torn file from a killed run: recompute

    def save(self, key: str) -> None:
        f = self._file(key)
        if f is None:
            return
        f.parent.mkdir(parents=True, exist_ok=True)
        mine = {k: v for k, v in self.nodes.items() if k[0] == key}
        tmp = f.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(mine, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(f)


class Episode:
    """One training sample: frames[T,H,W,3], gt[T,H,W], its initial scribble, and a backend."""

    def __init__(self, backend, sequence: str, frames: np.ndarray, gt: np.ndarray, n_objects: int,
                 initial_scribble: dict, cache: EpisodeCache | None = None, key_extra: str = "",
                 keep_outputs: bool = False):
        compat.apply()
        from davisinteractive.robot import InteractiveScribblesRobot

        self.backend, self.sequence = backend, sequence
        self.frames, self.gt, self.n_objects = frames, gt.astype(np.int64), n_objects
        self.initial = initial_scribble
        self.n_frames = len(frames)
        self.robot = InteractiveScribblesRobot()
        self.cache = cache or EpisodeCache()
        digest = hashlib.sha1(json.dumps(initial_scribble, sort_keys=True).encode()).hexdigest()[:10]
        self.key = f"{sequence}-{self.n_frames}f-{backend.name}-{digest}{key_extra}"
        self.cache.load(self.key)
        self.keep_outputs = keep_outputs
        self.prefix: tuple[int, ...] = ()
        self._synced: tuple[int, ...] | None = None  # annotation prefix the backend has consumed
        self._labels: np.ndarray | None = None
        marked = [i for i, s in enumerate(initial_scribble["scribbles"]) if s]
        if not marked:
            raise ValueError(f"{sequence}: initial scribble has no strokes")
        self.initial_frame = marked[0]

    # -- internals -------------------------------------------------------------------------------
    def _interact(self, scribble: dict, frame: int):
        self.cache.stats.backend_calls += 1
        pred = self.backend.interact(scribble, frame)
        self._labels = np.asarray(pred.labels)
        return pred

    def _sync(self, prefix: tuple[int, ...]) -> None:
        """Bring the backend to the state after ``prefix`` (replaying cached scribbles)."""
        if self._synced == prefix:
            return
        if self._synced is not None and prefix[:-1] == self._synced and prefix:
            node = self.cache.nodes[(self.key, prefix)]
            self._interact(node.scribble, prefix[-1])
        else:
            self.backend.reset(self.sequence, self.frames, self.n_objects)
            self._interact(self.initial, self.initial_frame)
            for i in range(1, len(prefix) + 1):
                node = self.cache.nodes[(self.key, prefix[:i])]
                self._interact(node.scribble, prefix[i - 1])
        self._synced = prefix

    def _outcome(self, node: _Node, pred=None) -> Outcome:
        jf = node.jf_objects.astype(np.float64)
        return Outcome(jf_frames=jf.mean(axis=1), jf_objects=jf,
                       labels=None if pred is None else self._labels, probs=pred)

    def _evaluate(self) -> np.ndarray:
        j, f = per_frame_jf(self.gt, self._labels, self.n_objects)
        return (0.5 * (j + f)).astype(np.float32)

    # -- API -------------------------------------------------------------------------------------
    def reset(self) -> Outcome:
        self.prefix = ()
        root = (self.key, ())
        if root in self.cache.nodes and not self.keep_outputs:
            self.cache.stats.hits += 1
            return self._outcome(self.cache.nodes[root])
        self.cache.stats.misses += 1
        self.backend.reset(self.sequence, self.frames, self.n_objects)
        pred = self._interact(self.initial, self.initial_frame)
        self._synced = ()
        node = self.cache.nodes.get(root) or _Node(self._evaluate(), None)
        self.cache.nodes[root] = node
        return self._outcome(node, pred)

    def step(self, frame: int) -> Outcome:
        frame = int(frame)
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} out of range 0..{self.n_frames - 1}")
        new = self.prefix + (frame,)
        k = (self.key, new)
        if k in self.cache.nodes and not self.keep_outputs:
            self.cache.stats.hits += 1
            self.prefix = new
            return self._outcome(self.cache.nodes[k])
        self.cache.stats.misses += 1
        if k in self.cache.nodes:  # outputs wanted: replay the cached scribble
            self._sync(self.prefix)
            pred = self._interact(self.cache.nodes[k].scribble, frame)
            self._synced = new
            self.prefix = new
            return self._outcome(self.cache.nodes[k], pred)
        self._sync(self.prefix)
        scribble = self.robot.interact(self.sequence, self._labels, self.gt, nb_objects=self.n_objects,
                                       frame=frame)
        scribble["sequence"] = self.sequence
        pred = self._interact(scribble, frame)
        self._synced = new
        node = _Node(self._evaluate(), scribble)
        self.cache.nodes[k] = node
        self.prefix = new
        return self._outcome(node, pred)

    def save(self) -> None:
        self.cache.save(self.key)


def load_sample(dataset, sequence: str, scribble_idx: int = 1, start: int | None = None,
                length: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(frames, gt, initial scribble) of a sample, optionally cut to ``length`` frames from ``start``
    (the scribble's frame must fall inside; by default the window is centred on it)."""
    frames, gt = dataset.frames(sequence), dataset.masks(sequence)
    path = Path(dataset.root) / "Scribbles" / sequence / f"{scribble_idx:03d}.json"
    scribble = json.loads(path.read_text())
    if length is None or length >= len(frames):
        return frames, gt, scribble
    marked = [i for i, s in enumerate(scribble["scribbles"]) if s][0]
    if start is None:
        start = min(max(0, marked - length // 2), len(frames) - length)
    if not start <= marked < start + length:
        raise ValueError(f"window {start}..{start + length - 1} of {sequence} misses the scribble frame {marked}")
    sl = slice(start, start + length)
    sub = {"sequence": sequence, "scribbles": scribble["scribbles"][sl]}
    return frames[sl], gt[sl], sub
