"""Interactive episodes outside a davisinteractive session (training data, the RL environment, the
look-ahead of greedy-oracle), with davisinteractive's own scribble robot against ground truth.

- :func:`robot_scribble`: the robot's correction of the current labels on a given frame.
- :class:`Lookahead`: inside a run, the sample's J&F after annotating each candidate frame, leaving
  the backend as it was (``snapshot()``/``restore()`` where the backend supports it, else a replay).
- :class:`Episode`: one sample as an environment: ``reset()`` runs round 1 on the initial scribble,
  ``step(frame)`` has the robot scribble ``frame`` and the backend interact; each returns an
  :class:`Outcome` (per-frame, per-object J&F).

Episode results are cached by (sample, annotation sequence) in memory and optionally on disk: the
robot is deterministic (see compat) and so are the backends, so the same chosen frames always give
the same masks. A cache hit skips the backend and the robot; the backend is only brought back in
sync when a later step misses: restored from a kept snapshot of that prefix when the backend supports
snapshots, else by replaying the cached scribbles of the prefix.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import compat, protocol
from .files import atomic_write
from .jf import per_frame_jf, sample_jf


def make_robot():
    """davisinteractive's scribble robot with the evaluation service's parameters."""
    compat.apply()
    from davisinteractive.evaluation.service import ROBOT_DEFAULT_PARAMETERS
    from davisinteractive.robot import InteractiveScribblesRobot

    return InteractiveScribblesRobot(**ROBOT_DEFAULT_PARAMETERS)


def robot_scribble(robot, sequence: str, labels: np.ndarray, gt: np.ndarray, n_objects: int,
                   frame: int) -> dict:
    """The robot's scribble correcting ``labels`` on ``frame`` (what ``submit_masks`` would return)."""
    scribble = robot.interact(sequence, np.asarray(labels), gt, nb_objects=n_objects, frame=int(frame))
    scribble["sequence"] = sequence
    return scribble


def labels_jf(gt: np.ndarray, labels: np.ndarray, n_objects: int) -> np.ndarray:
    """Per-frame, per-object J&F [T, K] (float32) of labels against ground truth."""
    j, f = per_frame_jf(gt, labels, n_objects)
    return (0.5 * (j + f)).astype(np.float32)


class Lookahead:
    """``lookahead(frames) -> J&F[len(frames)]``: the sample's J&F after the robot scribbles each frame
    and the backend interacts, from the run's current state, which is left unchanged.

    The run reports each of its own rounds with :meth:`after_round` (so a backend without snapshots
    can be replayed). ``calls`` and ``seconds`` count the backend work it did."""

    def __init__(self, backend, sequence: str, gt: np.ndarray, n_objects: int, frames: np.ndarray,
                 robot=None):
        self.backend, self.sequence, self.n_objects, self.frames = backend, sequence, int(n_objects), frames
        self.gt = np.asarray(gt).astype(np.int64)
        self.robot = robot or make_robot()
        self.rounds: list[tuple[dict, int]] = []
        self.labels: np.ndarray | None = None
        self.calls = 0

    def after_round(self, scribbles: dict, frame: int, labels: np.ndarray) -> None:
        self.rounds.append((scribbles, int(frame)))
        self.labels = np.asarray(labels)

    def _replay(self) -> None:
        self.backend.reset(self.sequence, self.frames, self.n_objects)
        for scribbles, frame in self.rounds:
            self.backend.interact(scribbles, frame)

    def __call__(self, frames) -> np.ndarray:
        if self.labels is None:
            raise RuntimeError("lookahead used before the first round")
        snap = self.backend.snapshot() if self.backend.supports_snapshot else None
        out = np.empty(len(frames), np.float64)
        for i, f in enumerate(frames):
            scribble = robot_scribble(self.robot, self.sequence, self.labels, self.gt, self.n_objects, f)
            pred = self.backend.interact(scribble, int(f))
            self.calls += 1
            j, fm = per_frame_jf(self.gt, np.asarray(pred.labels), self.n_objects)
            out[i] = sample_jf(j, fm)
            if snap is not None:
                self.backend.restore(snap)
            else:
                self._replay()
        return out


@dataclass
class Outcome:
    """After a round: per-frame mean J&F (over objects) and per-object [T, K] J&F."""

    jf_frames: np.ndarray
    jf_objects: np.ndarray
    labels: np.ndarray | None = None  # only when computed in this call (not from the cache)
    probs: object = None  # the backend's Prediction when computed in this call
    cues: np.ndarray | None = None  # [T, C] ground-truth-free cues of the prediction (agent.cues)

    @property
    def jf(self) -> float:
        """davisinteractive's sample J&F: mean over objects of the mean over frames."""
        return float(self.jf_objects.mean(axis=0).mean())


@dataclass
class _Node:
    jf_objects: np.ndarray  # float32 [T, K]
    scribble: dict | None  # the robot's scribble that led here (None at the root)
    cues: np.ndarray | None = None  # float16 [T, C] prediction cues (when the episode computes them)


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
            except (pickle.UnpicklingError, EOFError, ValueError):
                pass  # a torn file from an older version: recompute

    def save(self, key: str) -> None:
        f = self._file(key)
        if f is None:
            return
        f.parent.mkdir(parents=True, exist_ok=True)
        mine = {k: v for k, v in self.nodes.items() if k[0] == key}
        atomic_write(f, pickle.dumps(mine, protocol=pickle.HIGHEST_PROTOCOL), fsync=False)


class Episode:
    """One training sample: frames[T,H,W,3], gt[T,H,W], its initial scribble, and a backend.

    ``snapshots``: how many backend states (by annotation prefix) to keep for backends that support
    ``snapshot()`` (a look-ahead that tries many frames from one prefix restores instead of replaying).
    """

    def __init__(self, backend, sequence: str, frames: np.ndarray, gt: np.ndarray, n_objects: int,
                 initial_scribble: dict, cache: EpisodeCache | None = None, key_extra: str = "",
                 keep_outputs: bool = False, snapshots: int = 4, cues: bool = False):
        self.backend, self.sequence = backend, sequence
        self.frames, self.gt, self.n_objects = frames, gt.astype(np.int64), n_objects
        self.initial = initial_scribble
        self.n_frames = len(frames)
        self.robot = make_robot()
        self.cache = cache or EpisodeCache()
        digest = hashlib.sha1(json.dumps(initial_scribble, sort_keys=True).encode()).hexdigest()[:10]
        self.key = f"{sequence}-{self.n_frames}f-{backend.name}-{digest}{key_extra}"
        self.cache.load(self.key)
        self.keep_outputs = keep_outputs
        self.with_cues = bool(cues)
        self.initial_frame = protocol.first_scribbled_frame(initial_scribble, where=sequence)
        self.prefix: tuple[int, ...] = ()
        self._synced: tuple[int, ...] | None = None  # annotation prefix the backend has consumed
        self._labels: np.ndarray | None = None
        self._snapshots: OrderedDict = OrderedDict()  # prefix -> (backend state, labels)
        self._max_snapshots = int(snapshots) if backend.supports_snapshot else 0

    # -- internals -------------------------------------------------------------------------------
    def _interact(self, scribble: dict, frame: int, prefix: tuple[int, ...]):
        self.cache.stats.backend_calls += 1
        pred = self.backend.interact(scribble, frame)
        self._labels = np.asarray(pred.labels)
        self._synced = prefix
        if self._max_snapshots:
            self._snapshots[prefix] = (self.backend.snapshot(), self._labels)
            self._snapshots.move_to_end(prefix)
            while len(self._snapshots) > self._max_snapshots:
                self._snapshots.popitem(last=False)
        return pred

    def _sync(self, prefix: tuple[int, ...]) -> None:
        """Bring the backend to the state after ``prefix``: restore a kept snapshot, continue from
        the current state, or reset and replay the cached scribbles."""
        if self._synced == prefix:
            return
        if prefix in self._snapshots:
            state, self._labels = self._snapshots[prefix]
            self._snapshots.move_to_end(prefix)
            self.backend.restore(state)
            self._synced = prefix
            return
        if self._synced is not None and prefix and prefix[:-1] == self._synced:
            self._interact(self.cache.nodes[(self.key, prefix)].scribble, prefix[-1], prefix)
            return
        self.backend.reset(self.sequence, self.frames, self.n_objects)
        self._interact(self.initial, self.initial_frame, ())
        for i in range(1, len(prefix) + 1):
            self._interact(self.cache.nodes[(self.key, prefix[:i])].scribble, prefix[i - 1], prefix[:i])

    def _outcome(self, node: _Node, pred=None) -> Outcome:
        jf = node.jf_objects.astype(np.float64)
        return Outcome(jf_frames=jf.mean(axis=1), jf_objects=jf, labels=None if pred is None else self._labels,
                       probs=pred, cues=None if node.cues is None else node.cues.astype(np.float32))

    def _new_node(self, pred, scribble) -> _Node:
        cues = None
        if self.with_cues:
            from .agent.cues import prediction_cues

            cues = prediction_cues(self._labels, pred.low_res_probs).astype(np.float16)
        return _Node(labels_jf(self.gt, self._labels, self.n_objects), scribble, cues)

    def _ensure_cues(self, node: _Node, pred) -> _Node:
        """A node cached without cues (an older cache) gets them from the prediction just computed."""
        if self.with_cues and node.cues is None and pred is not None:
            from .agent.cues import prediction_cues

            node.cues = prediction_cues(self._labels, pred.low_res_probs).astype(np.float16)
        return node

    # -- API -------------------------------------------------------------------------------------
    def reset(self) -> Outcome:
        self.prefix = ()
        root = (self.key, ())
        cached = self.cache.nodes.get(root)
        if cached is not None and not self.keep_outputs and (cached.cues is not None or not self.with_cues):
            self.cache.stats.hits += 1
            return self._outcome(cached)
        self.cache.stats.misses += 1
        self.backend.reset(self.sequence, self.frames, self.n_objects)
        self._snapshots.clear()
        pred = self._interact(self.initial, self.initial_frame, ())
        node = self._ensure_cues(cached, pred) if cached is not None else self._new_node(pred, None)
        self.cache.nodes[root] = node
        return self._outcome(node, pred)

    def step(self, frame: int) -> Outcome:
        frame = int(frame)
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} out of range 0..{self.n_frames - 1}")
        new = self.prefix + (frame,)
        k = (self.key, new)
        node = self.cache.nodes.get(k)
        if node is not None and not self.keep_outputs and (node.cues is not None or not self.with_cues):
            self.cache.stats.hits += 1
            self.prefix = new
            return self._outcome(node)
        self.cache.stats.misses += 1
        self._sync(self.prefix)
        scribble = node.scribble if node is not None else robot_scribble(
            self.robot, self.sequence, self._labels, self.gt, self.n_objects, frame)
        pred = self._interact(scribble, frame, new)
        node = self._ensure_cues(node, pred) if node is not None else self._new_node(pred, scribble)
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
    scribble = protocol.load_scribble(dataset.root, sequence, scribble_idx)
    if length is None or length >= len(frames):
        return frames, gt, scribble
    marked = protocol.first_scribbled_frame(scribble, where=str(protocol.scribble_path(dataset.root, sequence,
                                                                                        scribble_idx)))
    if start is None:
        start = min(max(0, marked - length // 2), len(frames) - length)
    if not start <= marked < start + length:
        raise ValueError(f"window {start}..{start + length - 1} of {sequence} misses the scribble frame {marked}")
    sl = slice(start, start + length)
    sub = {"sequence": sequence, "scribbles": scribble["scribbles"][sl]}
    return frames[sl], gt[sl], sub
