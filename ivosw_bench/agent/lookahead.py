"""Look-ahead data: for states of real episodes, the true next-round J&F of annotating each frame.

For a sample (a whole video and its initial scribble) the episode is played for T rounds; at every
decision state (after round t = 1..T-1) every candidate frame is tried (the robot scribbles it on the
current prediction, the backend interacts from a snapshot of the state) and its next-round sample
J&F is recorded. The frame actually taken next is chosen by ``policy``:

- ``greedy``: the best candidate (the greedy-oracle ceiling's trajectory);
- ``linspace`` / ``random``: the baselines' choices (more varied states);
- a callable ``policy(state_dict) -> frame`` (e.g. a trained agent: states it visits itself).

One JSON file per (sample, policy) in ``out_dir`` (written atomically; existing files are kept, so a
killed generation resumes). Each state stores what a strategy would see (round t, annotation history,
annotated frames, the oracle per-frame J&F, and the QA network's per-frame prediction when a QA
model is given) and the target: ``candidates`` and their ``jf_next``. These are the supervision of
the agent's warm start (:mod:`.supervised`) and the rewards of its look-ahead analysis.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import protocol
from ..files import read_json, write_json

POLICIES = ("greedy", "linspace", "random")


@dataclass
class LookaheadConfig:
    dataset: str = "davis16-human"
    sequences: list[str] | None = None
    backend: str = "classic"
    backend_options: dict = field(default_factory=dict)
    env_scale: float = 0.5          # the environment's video scale (frames INTER_AREA, masks NEAREST)
    rounds: int = 8                 # T: decision states after rounds 1..T-1
    stride: int = 1                 # try every stride-th frame (1: all)
    policies: list[str] = field(default_factory=lambda: ["greedy"])
    quality_weights: str | None = "default"  # QA checkpoint for q_wild ("default": shipped; None: skip)
    seed: int = 0

    def key(self) -> str:
        d = asdict(self)
        d.pop("sequences")
        d.pop("policies")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def sample_file(out_dir: Path, seq: str, idx: int, policy: str) -> Path:
    return Path(out_dir) / f"{seq}__{idx:03d}__{policy}.json"


def _choose(policy, state: dict, cands: np.ndarray, jf_next: np.ndarray, rng: np.random.Generator,
            rounds: int) -> int:
    if callable(policy):
        return int(policy(state))
    if policy == "greedy":
        return int(cands[int(np.argmax(jf_next))])
    if policy == "random":
        return int(rng.integers(state["n_frames"]))
    if policy == "linspace":
        n, start = state["n_frames"], state["annotated"][0]
        target = (start + int(round(state["t"] * n / rounds))) % n
        free = np.flatnonzero(np.asarray(state["history"]) == 0)
        free = free if free.size else np.arange(n)
        dist = np.minimum(np.abs(free - target), n - np.abs(free - target))
        return int(free[np.lexsort((-free, dist))[0]])
    raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")


class _Parts:
    """Per-process dataset and QA model of a configuration (built once)."""

    cache: dict = {}

    @classmethod
    def get(cls, cfg: LookaheadConfig):
        key = json.dumps(asdict(cfg), sort_keys=True)
        if key not in cls.cache:
            from ..data.davis_layout import open_dataset
            from ..quality.model import QualityModel

            cls.cache.clear()
            qa = None
            if cfg.quality_weights is not None:
                qa = QualityModel.load(None if cfg.quality_weights == "default" else cfg.quality_weights,
                                       device="cpu")
            cls.cache[key] = (open_dataset(cfg.dataset, check=False), None, qa)
        return cls.cache[key]


def lookahead_sample(cfg: LookaheadConfig, seq: str, idx: int, policy="greedy", cache_dir=None) -> dict:
    """Play one sample for ``cfg.rounds`` rounds, trying the candidates at every decision state.

    The episode goes through the agent environment's cache (``cache_dir``: kept on disk), so the
    agent's later rollouts on the same sample reuse every backend round computed here."""
    from ..episode import EpisodeCache
    from .env import AgentEnv, WindowSpec

    dataset, _, qa = _Parts.get(cfg)
    t0 = time.perf_counter()
    cache = EpisodeCache(path=Path(cache_dir) if cache_dir else None)
    env = AgentEnv(dataset, WindowSpec(seq, idx, 0, None), cfg.backend, cfg.backend_options, cfg.env_scale, cache)
    ep, frames, n_obj = env.episode, env.episode.frames, env.episode.n_objects
    ep.keep_outputs = qa is not None
    n = ep.n_frames
    history = np.zeros(n, np.int64)
    protocol.count_annotation(history, ep.initial, ep.initial_frame)
    annotated = [ep.initial_frame]
    rng = np.random.default_rng([cfg.seed, int(hashlib.sha1(f"{seq}/{idx}/{policy}".encode()).hexdigest()[:8], 16)])
    outcome = ep.reset()
    states, calls = [], 0
    cands = np.arange(0, n, max(1, cfg.stride))
    for t in range(1, cfg.rounds):
        prefix = ep.prefix
        state = {"t": t, "n_frames": n, "prefix": list(prefix), "annotated": list(annotated),
                 "history": history.tolist(), "jf": outcome.jf,
                 "q_oracle": np.round(outcome.jf_frames, 5).tolist(),
                 "cues": np.round(outcome.cues, 4).tolist()}
        if qa is not None:
            pred = outcome.probs
            q, _ = qa.predict_video(frames, labels=np.asarray(pred.labels), low_res_probs=pred.low_res_probs,
                                    probs=None if pred.low_res_probs is not None else pred.probs,
                                    n_objects=n_obj)
            state["q_wild"] = np.round(q, 5).tolist()
        jf_next, q_next, cues_next, best = np.empty(len(cands)), [], [], None
        for i, f in enumerate(cands):
            ep.prefix = prefix
            out = ep.step(int(f))
            calls += 1
            jf_next[i] = out.jf
            q_next.append(np.round(out.jf_frames, 4).tolist())
            cues_next.append(np.round(out.cues, 3).tolist())
            if best is None or out.jf > best[0]:
                best = (out.jf, int(f), out)
        state["candidates"] = cands.tolist()
        state["jf_next"] = np.round(jf_next, 6).tolist()
        state["q_next"] = q_next  # per candidate: the per-frame J&F after it (the next oracle state)
        state["cues_next"] = cues_next  # per candidate: the prediction's cues after it
        a = _choose(policy, state, cands, jf_next, rng, cfg.rounds)
        states.append(state)
        if a == best[1] and (qa is None or best[2].probs is not None):
            outcome, ep.prefix = best[2], prefix + (a,)
        else:
            ep.prefix = prefix
            outcome = ep.step(a)
        history[a] += 1
        annotated.append(a)
    env.save()
    return {"sequence": seq, "scribble_idx": idx, "policy": policy if isinstance(policy, str) else "model",
            "n_frames": n, "n_objects": n_obj, "config": asdict(cfg), "episode_key": env.key, "states": states,
            "final_prefix": list(ep.prefix), "final_jf": outcome.jf, "backend_calls": calls,
            "seconds": round(time.perf_counter() - t0, 1)}


def _task(cfg_dict: dict, seq: str, idx: int, policy: str, out_dir: str) -> str:
    cfg = LookaheadConfig(**cfg_dict)
    path = sample_file(Path(out_dir), seq, idx, policy)
    write_json(path, lookahead_sample(cfg, seq, idx, policy, cache_dir=Path(out_dir) / "cache"), indent=None)
    return str(path)


def generate(cfg: LookaheadConfig, out_dir, jobs: int | None = None, progress=None) -> list[Path]:
    """Look-ahead files for every (sample, policy) of ``cfg`` not yet in ``out_dir`` (resumable),
    samples in parallel on local processes (``jobs``)."""
    from ..data.davis_layout import open_dataset
    from ..executors import make_executor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = out / "lookahead.json"
    if info.exists() and read_json(info).get("config_key") != cfg.key():
        from ..errors import AgentConfigError

        raise AgentConfigError(f"{out}: holds look-ahead data of another configuration; use another folder")
    write_json(info, {"config_key": cfg.key(), "config": asdict(cfg)})
    ds = open_dataset(cfg.dataset, check=False)
    seqs = ds.select(None, cfg.sequences)
    # scribble-set-major: a generation stopped early still covers every sequence
    todo = [(s, i, p) for s, i in sorted(ds.samples(seqs), key=lambda x: (x[1], x[0])) for p in cfg.policies
            if not sample_file(out, s, i, p).exists()]
    if progress:
        progress("step", total=len(todo), name="look-ahead", description="")
    with make_executor("local", jobs) as ex:
        for _, path in ex.map_unordered(_task, [(asdict(cfg), s, i, p, str(out)) for s, i, p in todo]):
            if progress:
                progress("step", description=Path(path).name)
    return sorted(out.glob("*__*__*.json"))


def load_lookahead(out_dir, sequences=None) -> list[dict]:
    """Every look-ahead file of ``out_dir`` (optionally of some sequences)."""
    files = sorted(Path(out_dir).glob("*__*__*.json"))
    data = [read_json(f) for f in files]
    return [d for d in data if sequences is None or d["sequence"] in set(sequences)]
