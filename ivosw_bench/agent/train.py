"""Training the agent (Yin et al., CVPR 2021, section 3, and this project's additions).

Pipeline of :func:`train_agent` (every step resumable from ``out_dir``):

1. **Samples**: whole videos of the training sequences (``window_length`` cuts windows as the paper
   did), run at ``env_scale``; ``val_sequences`` are kept apart to choose the checkpoint.
2. **Random-policy baseline** per sample: ``random_runs`` episodes of ``rounds - 1`` uniformly random
   frames give mu_T' / sigma_T' of the goal reward (:mod:`.rewards`); in parallel over samples,
   cached beside the episode cache.
3. **Warm start** (learning from the ceiling, :mod:`.supervised`): with ``lookahead_dir``, the
   network regresses the paper's reward of every frame the look-ahead tried.
4. **Offline double DQN** on the look-ahead transitions (oracle states), ``offline_epochs``.
5. **Online double DQN** with the environment, ``total_steps`` (the paper's recipe, from scratch
   when ``warm_start`` is off): epsilon-greedy over the same action space the strategy uses, target
   ``delta * r + gamma * Q_target(s', argmax_a Q_policy(s', a))``, replay buffer, target network.
6. **Selection**: after the warm start, after the offline epochs and every ``eval_every`` online steps,
   the greedy policy is rolled out on the validation samples; the checkpoint with the best mean
   round-AUC there becomes ``agent.pt`` (``selection.csv`` lists every candidate, with Linspace's
   round-AUC on the same samples for reference).

Presets (``--preset``): ``ceiling`` (the default above: rich state, free actions, whole videos, T=8,
warm start) and ``paper`` (the paper's recipe: (q, h) state, any frame, 25-frame windows, T = 5 steps,
pure RL, lr 5e-6, epsilon 0.7 -> 0.25).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import AgentConfigError
from ..files import atomic_open, read_json, write_json
from .dqn import Replay, Transition, dqn_update
from .env import AgentEnv, WindowSpec, make_windows
from .features import STATE_MODES, allowed_actions, n_features, state_features
from .model import QNetwork, numpy_q_values, numpy_weights, save_weights
from .rewards import (REWARD_TERMS, REWARDS, aux_reward, epsilon_at, fit_baseline, goal_reward,  # noqa: F401
                      random_runs, step_reward)

#: the folds of the k-fold evaluation over davis16's 25 sequences (5 sequences each)
SETTINGS = ("oracle", "wild")
PRESETS = {
    "ceiling": {},
    "paper": {"state": "paper", "action_space": "all", "window_length": 25, "rounds": 6, "warm_start": False,
              "offline_epochs": 0, "total_steps": 10000, "lr": 5e-6, "eps_start": 0.7, "eps_end": 0.25,
              "eps_decay_steps": 5000, "random_runs": 30, "env_scale": 0.5},
}


@dataclass
class AgentTrainConfig:
    """Every option of the agent's training; the paper's values where it has one are noted."""

    # data / environment
    dataset: str = "davis16-human"
    sequences: list[str] | None = None       # None: every sequence of the dataset not held out
    holdout: list[str] = field(default_factory=list)  # never used (the test fold)
    val_sequences: list[str] | None = None   # chose the checkpoint; None: every 5th training sequence
    window_length: int | None = None         # None: whole videos (paper: 25-frame windows)
    windows_per_sequence: int = 1
    scribble_sets: list[int] | None = None   # None: every scribble set of a sequence; e.g. [1, 2]
    val_scribble_sets: list[int] | None = None  # the validation samples' sets; None: scribble_sets
    backend: str = "classic"
    backend_options: dict = field(default_factory=dict)
    env_scale: float = 0.5                   # the environment's video scale
    cache_dir: str | None = None             # episode cache; None: <lookahead_dir>/cache or <out>/cache
    lookahead_dir: str | list[str] | None = None  # look-ahead data (warm start, offline DQN); a list: all of them
    setting: str = "oracle"                  # the state's quality: oracle J&F, or the QA network (wild)
    quality_weights: str | None = None       # QA checkpoint of the wild setting (None: shipped)
    # episode / rewards
    rounds: int = 8                          # T: rounds per episode, rounds - 1 agent steps (paper: 5 steps)
    random_runs: int = 10                    # random-policy runs per sample (paper: 30)
    baseline_seed: int = 0                   # the random runs' seed (a property of the sample, not of a run)
    baseline_fit: str = "t"                  # "t" (paper: t-distribution fit) or "normal"
    sigma_floor: float = 0.005
    reward: str = "eq3"                      # eq3: (P-(mu+sigma))/sigma; eq2: P-mu
    reward_terms: str = "both"               # both / goal / aux
    task_decomposition: bool = True          # every step is an episode end for the goal reward
    state: str = "rich"                      # rich / paper (= q and h) / q / h
    action_space: str = "free"               # free: unannotated frames; all: any frame (paper)
    # network
    hidden: int = 64
    layers: int = 1
    # warm start and offline double DQN (look-ahead data)
    warm_start: bool = True
    warm_loss: str = "zscore"                # zscore: ranking within a state; reward: delta * r(s, a)
    warm_epochs: int = 60
    warm_weight_decay: float = 0.0
    augment_reverse: bool = True             # time-reversed copies of every look-ahead state
    q_noise: float = 0.0                     # sd of smooth noise added to the state's q in the warm start
    q_noise_frames: float = 5.0              # its correlation length in frames (a QA network's errors are smooth)
    warm_lr: float = 1e-3
    warm_batch: int = 16
    offline_epochs: int = 0
    offline_lr: float = 1e-4
    # online double DQN
    delta: float = 0.1
    gamma: float = 0.95
    lr: float = 1e-4                         # paper: 5e-6
    batch_size: int = 32
    eps_start: float = 0.2                   # paper: 0.7
    eps_end: float = 0.05                    # paper: 0.25
    eps_decay_steps: int = 1000              # paper: 5000
    total_steps: int = 0                     # online environment steps (paper: 10000)
    replay_size: int = 50000
    updates_per_step: int = 1
    target_update: int = 100
    grad_clip: float | None = 1.0
    fill_from_baseline: bool = True          # seed the replay buffer with the random runs
    # selection / bookkeeping
    eval_every: int = 500                    # online steps between validation rollouts
    seed: int = 0
    torch_threads: int | None = 1
    jobs: int | None = None                  # processes for the random baseline (None: all cores)
    time_limit_s: float | None = None

    def lookahead_dirs(self) -> list[str]:
        d = self.lookahead_dir
        return [] if not d else [d] if isinstance(d, str) else list(d)

    def episode_cache_dir(self, out_dir) -> Path:
        """Where episodes and random runs are cached: ``cache_dir``, else the (last) look-ahead folder's
        ``cache/`` (whose episodes the look-ahead already computed), else ``<out_dir>/cache``."""
        if self.cache_dir:
            return Path(self.cache_dir)
        dirs = self.lookahead_dirs()
        return Path(dirs[-1] if dirs else out_dir) / "cache"

    def needs_baseline(self) -> bool:
        """The random-policy runs (mu, sigma of the paper's reward) are read by the reward warm loss,
        the offline and the online double DQN; a zscore warm start alone does not need them."""
        return (self.warm_start and self.warm_loss == "reward") or bool(self.offline_epochs) or bool(self.total_steps)

    def check(self) -> None:
        """AgentConfigError (one line) on an invalid option."""
        _err = AgentConfigError
        choices = {"reward": REWARDS, "reward_terms": REWARD_TERMS, "state": STATE_MODES + ("both",),
                   "warm_loss": ("zscore", "reward"),
                   "baseline_fit": ("t", "normal"), "action_space": ("free", "all"), "setting": SETTINGS}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise _err(f"{key} must be one of {', '.join(allowed)}, not {getattr(self, key)!r}")
        for key in ("scribble_sets", "val_scribble_sets"):
            sets = getattr(self, key)
            if sets is not None and (not isinstance(sets, list) or not sets or min(sets) < 1):
                raise _err(f"{key} must be a non-empty list of set numbers >= 1 (e.g. [1, 2]) or null")
        if self.rounds < 2 or self.random_runs < 2 or self.batch_size < 1 or not 0 < self.env_scale <= 1:
            raise _err("rounds >= 2, random_runs >= 2, batch_size >= 1 and 0 < env_scale <= 1 are required")
        if self.lookahead_dir is not None and not isinstance(self.lookahead_dir, (str, list)):
            raise _err(f"lookahead_dir must be a folder or a list of folders, not {self.lookahead_dir!r}")
        if self.warm_start and not self.lookahead_dir:
            raise _err("warm_start needs look-ahead data: --lookahead DIR (from 'ivosw-bench lookahead'), "
                       "or --set warm_start=false")
        if not (0.0 <= self.q_noise <= 1.0) or self.q_noise_frames <= 0:
            raise _err(f"q_noise must be in [0, 1] and q_noise_frames > 0, not {self.q_noise!r}, {self.q_noise_frames!r}")
        if self.q_noise and self.state not in ("rich", "paper", "both", "q"):
            raise _err(f"q_noise perturbs the state's q: state {self.state!r} has none")
        if self.offline_epochs and self.setting != "oracle":
            raise _err("offline double DQN needs the oracle next states: offline_epochs=0 in the wild setting")


def config_from_options(options: dict | None = None, overrides: list[str] | tuple = (),
                        preset: str | None = None) -> AgentTrainConfig:
    """An :class:`AgentTrainConfig` from a preset, keyword options (``None`` values ignored) and
    ``KEY=VALUE`` strings (VALUE parsed as JSON, else kept as text). Unknown keys: AgentConfigError."""
    fields = {f.name for f in dataclasses.fields(AgentTrainConfig)}
    if preset is not None and preset not in PRESETS:
        raise AgentConfigError(f"--preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    kw = dict(PRESETS.get(preset or "ceiling", {}))
    kw.update({k: v for k, v in (options or {}).items() if v is not None})
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise AgentConfigError(f"--set expects KEY=VALUE, got '{item}'")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        kw[key] = value
    unknown = sorted(set(kw) - fields)
    if unknown:
        raise AgentConfigError(f"unknown agent training option(s) {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(fields))})")
    cfg = AgentTrainConfig(**kw)
    cfg.check()
    return cfg


# ------------------------------------------------------------------------------------------ baseline
def _baseline_task(cfg_dict: dict, spec: tuple, cache_dir: str) -> dict:
    from ..data.davis_layout import open_dataset
    from ..episode import EpisodeCache

    cfg = AgentTrainConfig(**cfg_dict)
    env = AgentEnv(open_dataset(cfg.dataset, check=False), WindowSpec(*spec), cfg.backend, cfg.backend_options,
                   cfg.env_scale, EpisodeCache(path=Path(cache_dir)))
    t0 = time.perf_counter()
    runs = random_runs(env, cfg.random_runs, cfg.rounds - 1, cfg.baseline_seed)
    env.save()
    return {"sample": WindowSpec(*spec).name, "key": env.key, **runs, "seconds": time.perf_counter() - t0}


def random_baseline(cfg: AgentTrainConfig, specs: list[WindowSpec], cache_dir: Path, log=None) -> dict:
    """mu/sigma per sample (keyed by (sequence, scribble_idx) for whole videos, else the window name),
    computed in parallel and cached in ``cache_dir/baseline-*.json``."""
    from ..executors import make_executor

    path = cache_dir / f"baseline-r{cfg.rounds}-runs{cfg.random_runs}-seed{cfg.baseline_seed}-s{cfg.env_scale:g}.json"
    data = read_json(path, AgentConfigError) if path.exists() else {}
    todo = [s for s in specs if s.name not in data]
    if todo:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tasks = [(dataclasses.asdict(cfg), dataclasses.astuple(s), str(cache_dir)) for s in todo]
        with make_executor("local", cfg.jobs) as ex:
            for _, entry in ex.map_unordered(_baseline_task, tasks):
                data[entry["sample"]] = entry
                write_json(path, data, indent=None)
                if log:
                    log(f"random baseline {entry['sample']}: {entry['seconds']:.0f} s")
    out = {}
    for s in specs:
        e = dict(data[s.name])
        mu, sigma = fit_baseline(np.array(e["jf"]), cfg.baseline_fit, cfg.sigma_floor)
        e["mu"], e["sigma"] = mu.tolist(), sigma.tolist()
        out[s.name] = e
    return out


# ------------------------------------------------------------------------------------------ validation
def rollout(env: AgentEnv, choose: Callable, rounds: int) -> list[float]:
    """The sample J&F after rounds 1..T of one episode whose frames ``choose(state) -> frame`` picks."""
    s = env.reset()
    jfs = [s.jf]
    for t in range(1, rounds):
        s = env.step(choose(s, t))
        jfs.append(s.jf)
    return jfs


def round_auc(jfs) -> float:
    from ..results.metrics import round_auc as auc

    return auc(jfs)


def linspace_choice(s, t: int, rounds: int, start: int) -> int:
    """The Linspace strategy's frame (its exact rule) from an environment state."""
    n = len(s.history)
    target = (start + int(round(t * n / rounds))) % n
    free = np.flatnonzero(np.asarray(s.history) == 0)
    free = free if free.size else np.arange(n)
    dist = np.minimum(np.abs(free - target), n - np.abs(free - target))
    return int(free[np.lexsort((-free, dist))[0]])


class _Validator:
    """Greedy rollouts of a network on the validation samples (round-AUC), and Linspace's."""

    def __init__(self, envs: list[AgentEnv], cfg: AgentTrainConfig):
        self.envs, self.cfg = envs, cfg
        self.linspace = self._score(self._linspace)

    def _linspace(self, env):
        start = env.episode.initial_frame
        return lambda s, t: linspace_choice(s, t, self.cfg.rounds, start)

    def _score(self, make_choose) -> list[float]:
        return [round_auc(rollout(env, make_choose(env), self.cfg.rounds)) for env in self.envs]

    def score(self, net: QNetwork) -> list[float]:
        w, layers, c = numpy_weights(net), net.layers, self.cfg

        def make_choose(env):
            def choose(s, t):
                q = numpy_q_values(w, state_features(s.quality, s.history, t, c.rounds, c.state, s.cues), layers)
                q[~allowed_actions(s.history, c.action_space)] = -np.inf
                return int(np.argmax(q))
            return choose

        return self._score(make_choose)


# ------------------------------------------------------------------------------------------ training
class _Trainer:
    def __init__(self, cfg: AgentTrainConfig, out_dir: Path, progress: bool = True,
                 log: Callable[[str], None] | None = None):
        from ..data.davis_layout import open_dataset
        from ..episode import EpisodeCache

        cfg.check()
        self.cfg, self.out = cfg, Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.log = log or (lambda msg: None)
        self.dataset = open_dataset(cfg.dataset, check=False)
        pool = cfg.sequences or [s for s in sorted(self.dataset.sequences) if s not in set(cfg.holdout)]
        overlap = sorted(set(pool) & set(cfg.holdout))
        if overlap:
            raise AgentConfigError(f"training sequences overlap the held-out ones: {', '.join(overlap)}")
        pool = self.dataset.select(None, pool)
        val = cfg.val_sequences if cfg.val_sequences is not None else pool[2::5]
        bad = sorted(set(val) - set(pool))
        if bad:
            raise AgentConfigError(f"validation sequences must be training-pool sequences: {', '.join(bad)}")
        self.val_sequences = list(val)
        self.sequences = [s for s in pool if s not in set(val)]
        if not self.sequences:
            raise AgentConfigError("no training sequences left after the validation split")
        self.cache_dir = cfg.episode_cache_dir(self.out)
        self.cache = EpisodeCache(path=self.cache_dir)
        self.specs = self._specs(self.sequences)
        val_sets = cfg.val_scribble_sets if cfg.val_scribble_sets is not None else cfg.scribble_sets
        self.val_specs = [WindowSpec(s, i, 0, None) for s, i in self._samples(self.val_sequences, val_sets)]
        self.quality_fn = None
        if cfg.setting == "wild":
            from ..quality.learned import LearnedQuality

            qa = LearnedQuality(weights=cfg.quality_weights, device="cpu")
            self.quality_fn = lambda frames, pred: qa.model.predict_video(
                frames, labels=np.asarray(pred.labels), low_res_probs=pred.low_res_probs,
                probs=None if pred.low_res_probs is not None else pred.probs)[0]
        self.envs: dict[str, AgentEnv] = {}

    def _samples(self, sequences: list[str], sets: list[int] | None) -> list[tuple[str, int]]:
        return [(s, i) for s, i in self.dataset.samples(sequences) if sets is None or i in sets]

    def _specs(self, sequences: list[str]) -> list[WindowSpec]:
        c = self.cfg
        if c.window_length is None:
            return [WindowSpec(s, i, 0, None) for s, i in self._samples(sequences, c.scribble_sets)]
        return make_windows(self.dataset, sequences, c.windows_per_sequence, c.window_length)

    def env(self, spec: WindowSpec) -> AgentEnv:
        if spec.name not in self.envs:
            c = self.cfg
            self.envs[spec.name] = AgentEnv(self.dataset, spec, c.backend, c.backend_options, c.env_scale,
                                            self.cache, self.quality_fn)
        return self.envs[spec.name]

    # -- phases --------------------------------------------------------------------------------
    def _baselines(self) -> dict:
        if not self.cfg.needs_baseline():  # a zscore warm start alone never reads the random runs
            return {s.name: {} for s in self.specs}
        base = random_baseline(self.cfg, self.specs, self.cache_dir, self.log)
        write_json(self.out / "baseline.json", {k: {f: e[f] for f in ("jf0", "mu", "sigma")} for k, e in base.items()})
        return base

    def _lookahead_states(self, sequences):
        from .supervised import load_states

        return [st for d in self.cfg.lookahead_dirs() for st in load_states(d, sequences, self.cfg.setting)]

    def run(self) -> dict:
        c = self.cfg
        if c.torch_threads:
            torch.set_num_threads(c.torch_threads)
        torch.manual_seed(c.seed)
        t_start = time.perf_counter()
        write_json(self.out / "config.json", dataclasses.asdict(c))
        base = self._baselines()
        by_sample = {(s.sequence, s.scribble_idx): base[s.name] for s in self.specs if s.length is None}
        policy = QNetwork(n_features(c.state), c.hidden, c.layers)
        target = QNetwork(n_features(c.state), c.hidden, c.layers)
        validator = _Validator([self.env(s) for s in self.val_specs], c)
        self.log(f"validation: {len(self.val_specs)} samples of {', '.join(self.val_sequences)}; "
                 f"Linspace round-AUC {np.mean(validator.linspace):.2f}")
        selection: list[dict] = []
        record = {"warm_loss": [], "offline_loss": [], "curves": []}

        def consider(tag: str, step: int) -> None:
            scores = validator.score(policy)
            row = {"checkpoint": tag, "step": step, "val_round_auc": float(np.mean(scores)),
                   "linspace_round_auc": float(np.mean(validator.linspace)),
                   "val_minus_linspace": float(np.mean(scores) - np.mean(validator.linspace)),
                   "wall_s": round(time.perf_counter() - t_start, 1)}
            selection.append(row)
            save_weights(policy, self.out / f"checkpoint-{tag}.pt", self._extra())
            self.log(f"checkpoint {tag}: validation round-AUC {row['val_round_auc']:.2f} "
                     f"(Linspace {row['linspace_round_auc']:.2f})")

        if c.warm_start:
            from .supervised import state_regret, warm_start

            states = [s for s in self._lookahead_states(self.sequences) if (s.sequence, s.scribble_idx) in by_sample]
            self.log(f"warm start on {len(states)} look-ahead states")
            record["warm_loss"] = warm_start(policy, states, by_sample, c, c.warm_epochs, c.warm_lr, c.warm_batch,
                                             c.seed, self.log)
            val_states = self._lookahead_states(self.val_sequences)
            record["warm_val_regret"] = state_regret(policy, val_states, c) if val_states else None
            consider("warm", 0)
        if c.offline_epochs:
            from .supervised import offline_dqn, offline_transitions

            states = [s for s in self._lookahead_states(self.sequences) if (s.sequence, s.scribble_idx) in by_sample]
            trans = offline_transitions(states, by_sample, c)
            self.log(f"offline double DQN on {len(trans)} look-ahead transitions")
            record["offline_loss"] = offline_dqn(policy, target, trans, c, c.offline_epochs, c.offline_lr, c.seed,
                                                 self.log)
            consider("offline", 0)
        if c.total_steps:
            self._online(policy, target, base, record, consider, t_start)
        if not selection:
            consider("init", 0)
        best = max(selection, key=lambda r: r["val_round_auc"])
        blob = torch.load(self.out / f"checkpoint-{best['checkpoint']}.pt", map_location="cpu", weights_only=True)
        with atomic_open(self.out / "agent.pt", "wb") as fh:
            torch.save(blob, fh)
        _write_rows(self.out / "selection.csv", selection)
        write_curves(record["curves"], self.out)
        summary = {"wall_s": round(time.perf_counter() - t_start, 1), "selected": best, "selection": selection,
                   "train_sequences": self.sequences, "val_sequences": self.val_sequences,
                   "n_train_samples": len(self.specs), "warm_loss": record["warm_loss"][-1:] or None,
                   "warm_val_regret": record.get("warm_val_regret"), "offline_loss": record["offline_loss"][-1:] or None,
                   "online_steps": len(record["curves"]) and record["curves"][-1]["step"],
                   "cache": {"hits": self.cache.stats.hits, "misses": self.cache.stats.misses,
                             "hit_rate": round(self.cache.stats.hit_rate, 4)}}
        write_json(self.out / "summary.json", summary)
        return summary

    def _extra(self) -> dict:
        c = self.cfg
        return {"state": c.state, "action_space": c.action_space, "setting": c.setting, "rounds": c.rounds,
                "config": dataclasses.asdict(c)}

    # -- online double DQN ------------------------------------------------------------------------
    def _transitions(self, env: AgentEnv, entry: dict, actions: list[int], replay: Replay) -> None:
        """Replay a finished episode's actions (from the cache) into transitions."""
        c = self.cfg
        s = env.reset()
        for t, a in enumerate(actions, start=1):
            h_before = s.history
            x = state_features(s.quality, s.history, t, c.rounds, c.state, s.cues)
            s = env.step(a)
            goal, aux = step_reward(t, c.rounds - 1, s.jf, a, h_before, np.asarray(entry["mu"]),
                                    np.asarray(entry["sigma"]), c.reward, c.reward_terms, c.task_decomposition)
            x2 = state_features(s.quality, s.history, t + 1, c.rounds, c.state, s.cues)
            replay.push(Transition(x, int(a), goal + aux, x2, allowed_actions(s.history, c.action_space),
                                   t + 1 >= c.rounds))

    def _online(self, policy, target, base, record, consider, t_start) -> None:
        c = self.cfg
        target.load_state_dict(policy.state_dict())
        opt = torch.optim.Adam(policy.parameters(), lr=c.lr)
        rng, prng = np.random.default_rng(c.seed), random.Random(c.seed)
        replay = Replay(c.replay_size)
        if c.fill_from_baseline and self.quality_fn is None:
            for spec in self.specs:
                for acts in base[spec.name]["actions"]:
                    self._transitions(self.env(spec), base[spec.name], acts, replay)
        step = episode = 0
        next_eval = c.eval_every
        while step < c.total_steps:
            if c.time_limit_s and time.perf_counter() - t_start > c.time_limit_s:
                self.log(f"time limit {c.time_limit_s:.0f}s reached at step {step}")
                break
            spec = self.specs[int(rng.integers(len(self.specs)))]
            env, entry = self.env(spec), base[spec.name]
            s = env.reset()
            jfs, acts, losses = [s.jf], [], []
            for t in range(1, c.rounds):
                eps = epsilon_at(step, c.eps_start, c.eps_end, c.eps_decay_steps)
                allowed = allowed_actions(s.history, c.action_space)
                x = state_features(s.quality, s.history, t, c.rounds, c.state, s.cues)
                if rng.random() < eps:
                    a = int(rng.choice(np.flatnonzero(allowed)))
                else:
                    with torch.no_grad():
                        q = policy(torch.from_numpy(x))[0].numpy()
                    q[~allowed] = -np.inf
                    a = int(np.argmax(q))
                h_before = s.history
                s = env.step(a)
                goal, aux = step_reward(t, c.rounds - 1, s.jf, a, h_before, np.asarray(entry["mu"]),
                                        np.asarray(entry["sigma"]), c.reward, c.reward_terms, c.task_decomposition)
                x2 = state_features(s.quality, s.history, t + 1, c.rounds, c.state, s.cues)
                replay.push(Transition(x, a, goal + aux, x2, allowed_actions(s.history, c.action_space),
                                       t + 1 >= c.rounds))
                jfs.append(s.jf)
                acts.append(a)
                step += 1
                if len(replay) >= c.batch_size:
                    for _ in range(c.updates_per_step):
                        losses.append(dqn_update(policy, target, opt, replay.sample(c.batch_size, prng), c.delta,
                                                 c.gamma, c.grad_clip))
                if step % c.target_update == 0:
                    target.load_state_dict(policy.state_dict())
            episode += 1
            env.save()
            record["curves"].append({"episode": episode, "step": step, "sample": spec.name, "epsilon": round(eps, 4),
                                     "jf_final": jfs[-1], "round_auc": round_auc(jfs),
                                     "random_mu": entry["mu"][-1], "jf_minus_random": jfs[-1] - entry["mu"][-1],
                                     "n_unique": len(set(acts)),
                                     "loss": float(np.mean(losses)) if losses else float("nan"),
                                     "actions": " ".join(map(str, acts))})
            if step >= next_eval or step >= c.total_steps:
                consider(f"online-{step}", step)
                next_eval += c.eval_every


# ------------------------------------------------------------------------------------------ outputs
CURVE_FIELDS = ["episode", "step", "sample", "epsilon", "jf_final", "round_auc", "random_mu", "jf_minus_random",
                "n_unique", "loss", "actions"]


def _write_rows(path: Path, rows: list[dict]) -> None:
    with atomic_open(path, "w") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["checkpoint"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def write_curves(curves: list[dict], out_dir: Path, window: int = 50) -> tuple[Path, Path]:
    """``curves.csv`` (one row per online episode) and ``curves.png`` (moving averages of the episode's
    final J&F against the random policy's, like the paper's Figure 6)."""
    out_dir = Path(out_dir)
    csv_path, png_path = out_dir / "curves.csv", out_dir / "curves.png"
    with atomic_open(csv_path, "w") as fh:
        w = csv.DictWriter(fh, fieldnames=CURVE_FIELDS, lineterminator="\n")
        w.writeheader()
        for row in curves:
            w.writerow({k: row.get(k) for k in CURVE_FIELDS})
    if curves:
        from matplotlib.figure import Figure

        ep = np.array([r["episode"] for r in curves])

        def smooth(k):
            v = np.array([r[k] for r in curves], dtype=np.float64)
            n = min(window, len(v))
            return np.convolve(v, np.ones(n) / n, mode="valid"), ep[n - 1:]

        fig = Figure(figsize=(6, 4), dpi=120, layout="constrained")
        ax = fig.subplots()
        for k, lab in (("jf_final", "agent final J&F"), ("random_mu", "random policy mu_T")):
            y, x = smooth(k)
            ax.plot(x, y, label=lab)
        ax.set_xlabel("episode")
        ax.set_ylabel(f"J&F after the last round (moving mean of {window})")
        ax.legend()
        with atomic_open(png_path, "wb") as fh:
            fig.savefig(fh, format="png")
    return csv_path, png_path


def export_weights(out_dir: Path, dest: Path, command: str | None = None) -> tuple[Path, Path]:
    """Copy a finished run's selected policy to ``dest`` (.pt) with a ``.json`` beside it (command,
    config, selection, wall time)."""
    out_dir, dest = Path(out_dir), Path(dest)
    summary = read_json(out_dir / "summary.json", AgentConfigError)
    config = read_json(out_dir / "config.json", AgentConfigError)
    blob = torch.load(out_dir / "agent.pt", map_location="cpu", weights_only=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(dest, "wb") as fh:
        torch.save(blob, fh)
    meta = {"weights": dest.name, "command": command, "config": config, "training": summary,
            "torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count()}
    write_json(dest.with_suffix(".json"), meta)
    return dest, dest.with_suffix(".json")


def train_agent(config: AgentTrainConfig, out_dir, progress: bool = True,
                log: Callable[[str], None] | None = None) -> dict:
    """Train the agent into ``out_dir`` (agent.pt = the selected checkpoint, checkpoint-*.pt,
    selection.csv, baseline.json, curves.csv/png, summary.json); returns the summary."""
    return _Trainer(config, Path(out_dir), progress=progress, log=log).run()
