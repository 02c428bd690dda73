"""Training the agent (Yin et al., CVPR 2021, section 3): random-policy baseline, rewards, double DQN.

Pipeline of :func:`train_agent` (every step resumable from ``out_dir``):

1. **Samples**: windows of N' = 25 consecutive frames of every training sequence, each containing
   the initial scribble frame (:func:`ivosw_bench.agent.env.make_windows`).
2. **Random-policy baseline** per sample: ``random_runs`` (30) runs of T random frames (repeats
   allowed, like the Random strategy); for every horizon T' = 1..T the final J&F of the runs gives
   mu_T' and sigma_T'. ``baseline_fit="t"`` (the paper's "t-distribution") uses
   ``scipy.stats.t.fit`` -> (df, loc=mu, scale=sigma); ``"normal"`` the sample mean and standard
   deviation. sigma is floored at ``sigma_floor`` (a sample where every random run ends alike would
   otherwise give unbounded rewards). Raw runs are stored beside the episode cache
   (``baseline-T5-runs30-seed0.json``), mu/sigma in ``<out_dir>/baseline.json``; the runs' transitions also seed
   the replay buffer.
3. **Rewards** of the step that annotates frame a at step t (the state before has history h):
   auxiliary (diversity) ``+1 if h[a] == min(h) else -1``; goal (only at the episode end t = T, or at
   *every* step with ``task_decomposition``: each T' is its own episode end, scored against the
   random policy at T'): eq. 3 ``(P - (mu + sigma)) / sigma`` (default) or eq. 2 ``P - mu``, with P the
   window's J&F after the step. ``reward_terms`` picks goal / aux / both (paper Table 5).
4. **Double Q-learning**: ``y = delta * r + gamma * Q_target(s', argmax_a Q_policy(s', a))`` (no
   bootstrap after step T), MSE on Q_policy(s)[a], Adam, batch 32, hard target update every
   ``target_update`` steps, epsilon-greedy from 0.7 to 0.25 linearly over 5000 env steps. The agent
   may re-pick annotated frames (the paper's action space; the diversity reward discourages it).

Resuming: the checkpoint holds the networks, the optimiser, the step/episode counters, the RNG
states and the curves; the replay buffer is *not* saved: on resume it is re-filled from the
random-baseline runs (replayed from the episode cache, no backend work), so the first updates after
a resume see fewer agent transitions than an uninterrupted run would.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import platform
import random
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .env import AgentEnv, WindowSpec, make_windows
from .model import STATE_MODES, QNetwork, save_weights, state_tensor

#: held-out davis16-train sequences (evaluation); every other sequence trains
HOLDOUT = ("bear", "boat", "car-turn", "dance-jump", "kite-walk", "tennis")
REWARDS = ("eq3", "eq2")
REWARD_TERMS = ("both", "goal", "aux")


from ..errors import AgentConfigError  # noqa: E402,F401 (re-exported)


@dataclass
class AgentTrainConfig:
    """Every hyperparameter of the agent's training; defaults are the paper's values where it has one."""

    # data / environment
    dataset: str = "davis16-train"
    sequences: list[str] | None = None       # None: every sequence of the dataset not in ``holdout``
    holdout: list[str] = field(default_factory=lambda: list(HOLDOUT))
    window_length: int = 25                  # N' (paper)
    windows_per_sequence: int = 1
    backend: str = "classic"
    backend_options: dict = field(default_factory=dict)
    env_scale: float = 1.0                   # < 1: run the environment on downscaled video (speed)
    cache_dir: str | None = None             # episode cache; None: <out_dir>/cache
    # episode / rewards
    T: int = 5                               # steps per training episode (paper)
    random_runs: int = 30                    # random-policy runs per sample (paper)
    baseline_fit: str = "t"                  # "t" (paper: t-distribution fit) or "normal" (mean/std)
    sigma_floor: float = 0.005
    reward: str = "eq3"                      # eq3: (P-(mu+sigma))/sigma; eq2: P-mu
    reward_terms: str = "both"               # both / goal / aux
    task_decomposition: bool = True          # every T' = 1..T is an episode end for the goal reward
    state: str = "both"                      # both / q / h (features the network sees)
    # double DQN
    delta: float = 0.1
    gamma: float = 0.95
    lr: float = 5e-6
    batch_size: int = 32
    eps_start: float = 0.7
    eps_end: float = 0.25
    eps_decay_steps: int = 5000
    total_steps: int = 10000                 # environment steps (agent actions)
    warmup_steps: int = 0                    # extra random-action steps before learning
    fill_from_baseline: bool = True          # seed the replay buffer with the random runs
    replay_size: int = 50000
    updates_per_step: int = 1
    target_update: int = 100                 # env steps between hard target-network copies
    grad_clip: float | None = None
    hidden: int = 64
    layers: int = 1
    # bookkeeping
    seed: int = 0
    torch_threads: int | None = 1            # the network is tiny: one thread is fastest on a shared CPU
    checkpoint_every: int = 250              # env steps (checkpoints are written at episode ends)
    time_limit_s: float | None = None        # stop (checkpointed, resumable) after this much wall time

    def check(self) -> None:
        """Raise :class:`AgentConfigError` (one line) on an invalid option."""
        _err = AgentConfigError
        if self.reward not in REWARDS:
            raise _err(f"reward must be one of {REWARDS}, not '{self.reward}'")
        if self.reward_terms not in REWARD_TERMS:
            raise _err(f"reward_terms must be one of {REWARD_TERMS}, not '{self.reward_terms}'")
        if self.state not in STATE_MODES:
            raise _err(f"state must be one of {STATE_MODES}, not '{self.state}'")
        if self.baseline_fit not in ("t", "normal"):
            raise _err(f"baseline_fit must be 't' or 'normal', not '{self.baseline_fit}'")
        if self.T < 1 or self.random_runs < 2 or self.batch_size < 1 or not 0 < self.env_scale <= 1:
            raise _err("T >= 1, random_runs >= 2, batch_size >= 1 and 0 < env_scale <= 1 are required")


def config_from_options(options: dict | None = None, overrides: list[str] | tuple = ()) -> AgentTrainConfig:
    """An :class:`AgentTrainConfig` from keyword options (``None`` values ignored) and ``KEY=VALUE``
    strings (VALUE parsed as JSON, else kept as text: ``reward=eq2``, ``task_decomposition=false``,
    ``holdout=["bear"]``, ``backend_options={"work_scale": 0.5}``). Unknown keys: AgentConfigError."""
    fields = {f.name for f in dataclasses.fields(AgentTrainConfig)}
    kw = {k: v for k, v in (options or {}).items() if v is not None}
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


# ------------------------------------------------------------------------------------------ pieces
def epsilon_at(step: int, start: float = 0.7, end: float = 0.25, decay_steps: int = 5000) -> float:
    """Linear epsilon schedule: ``start`` at step 0, ``end`` from ``decay_steps`` on."""
    if decay_steps <= 0:
        return end
    frac = min(1.0, max(0.0, step / decay_steps))
    return start + frac * (end - start)


def aux_reward(action: int, history_before: np.ndarray) -> float:
    """+1 when the chosen frame is among the least-annotated frames (before this step), else -1."""
    h = np.asarray(history_before)
    return 1.0 if h[int(action)] == h.min() else -1.0


def goal_reward(P: float, mu: float, sigma: float, kind: str = "eq3") -> float:
    """eq. 3: ``(P - (mu + sigma)) / sigma``; eq. 2: ``P - mu`` (J&F in [0, 1])."""
    if kind == "eq3":
        return (P - (mu + sigma)) / sigma
    if kind == "eq2":
        return P - mu
    raise ValueError(f"unknown reward '{kind}'")


def step_reward(t: int, T: int, P: float, action: int, history_before: np.ndarray, mu: np.ndarray,
                sigma: np.ndarray, reward: str = "eq3", terms: str = "both",
                decomposition: bool = True) -> tuple[float, float]:
    """(goal, aux) reward of step ``t`` (1-based) of a T-step episode; ``mu``/``sigma`` are indexed by
    T'-1. The goal term is 0 except at t = T, or at every t with ``decomposition``; a term switched off
    by ``terms`` is 0."""
    goal = aux = 0.0
    if terms in ("both", "goal") and (decomposition or t == T):
        goal = goal_reward(P, float(mu[t - 1]), float(sigma[t - 1]), reward)
    if terms in ("both", "aux"):
        aux = aux_reward(action, history_before)
    return goal, aux


def fit_baseline(final_jf: np.ndarray, fit: str = "t", sigma_floor: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """``final_jf[runs, T]`` (J&F after T' = 1..T random steps) -> (mu[T], sigma[T])."""
    final_jf = np.asarray(final_jf, np.float64)
    mus, sigmas = [], []
    for col in final_jf.T:
        mu, sigma = float(col.mean()), float(col.std(ddof=1))
        if fit == "t" and sigma > 1e-9:
            from scipy import stats

            try:
                _, loc, scale = stats.t.fit(col)
                if np.isfinite(loc) and np.isfinite(scale) and scale > 0:
                    mu, sigma = float(loc), float(scale)
            except Exception:  # noqa: BLE001 - a failed fit falls back to mean/std
                pass
        mus.append(mu)
        sigmas.append(max(sigma, sigma_floor))
    return np.array(mus), np.array(sigmas)


def double_q_targets(policy: QNetwork, target: QNetwork, rewards: torch.Tensor, next_states: torch.Tensor,
                     done: torch.Tensor, delta: float = 0.1, gamma: float = 0.95) -> torch.Tensor:
    """``delta * r + gamma * Q_target(s', argmax_a Q_policy(s', a))`` (the bootstrap is 0 when done)."""
    with torch.no_grad():
        a_next = policy(next_states).argmax(dim=1, keepdim=True)
        q_next = target(next_states).gather(1, a_next).squeeze(1)
        return delta * rewards + gamma * (1.0 - done.float()) * q_next


class Replay:
    """Uniform replay buffer of (state[N, 2], action, reward, next state, done); windows of one length."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.items: list = []
        self.pos = 0

    def __len__(self) -> int:
        return len(self.items)

    def push(self, s: torch.Tensor, a: int, r: float, s2: torch.Tensor, done: bool) -> None:
        item = (s, int(a), float(r), s2, bool(done))
        if len(self.items) < self.capacity:
            self.items.append(item)
        else:
            self.items[self.pos] = item
        self.pos = (self.pos + 1) % self.capacity

    def sample(self, n: int, rng: random.Random):
        batch = [self.items[rng.randrange(len(self.items))] for _ in range(n)]
        by_len: dict[int, list] = {}
        for it in batch:  # one length per batch: keep the most common length
            by_len.setdefault(it[0].shape[0], []).append(it)
        batch = max(by_len.values(), key=len)
        s = torch.stack([b[0] for b in batch])
        a = torch.tensor([b[1] for b in batch])
        r = torch.tensor([b[2] for b in batch], dtype=torch.float32)
        s2 = torch.stack([b[3] for b in batch])
        d = torch.tensor([b[4] for b in batch])
        return s, a, r, s2, d


def dqn_update(policy: QNetwork, target: QNetwork, opt: torch.optim.Optimizer, batch, delta: float,
               gamma: float, grad_clip: float | None = None) -> float:
    s, a, r, s2, d = batch
    y = double_q_targets(policy, target, r, s2, d, delta, gamma)
    q = policy(s).gather(1, a.unsqueeze(1)).squeeze(1)
    loss = torch.nn.functional.mse_loss(q, y)
    opt.zero_grad()
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
    opt.step()
    return float(loss.item())


# ------------------------------------------------------------------------------------------ baseline
def random_runs(env: AgentEnv, runs: int, T: int, seed: int) -> dict:
    """``runs`` episodes of T uniformly random frames -> {"actions": [runs][T], "jf": [runs][T],
    "jf0": J&F after the initial scribble}."""
    rng = np.random.default_rng([seed, zlib.crc32(env.key.encode())])
    actions, jfs = [], []
    jf0 = env.reset().jf
    for _ in range(runs):
        env.reset()
        acts = [int(a) for a in rng.integers(env.n_frames, size=T)]
        actions.append(acts)
        jfs.append([float(env.step(a).jf) for a in acts])
    return {"actions": actions, "jf": jfs, "jf0": float(jf0)}


# ------------------------------------------------------------------------------------------ training
class _Trainer:
    def __init__(self, cfg: AgentTrainConfig, out_dir: Path, quality_fn=None, progress: bool = True,
                 log: Callable[[str], None] | None = None):
        from ..data.davis_layout import open_dataset
        from ..episode import EpisodeCache

        cfg.check()
        self.cfg, self.out = cfg, Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.quality_fn, self.progress = quality_fn, progress
        self.log = log or (lambda msg: None)
        self.dataset = open_dataset(cfg.dataset, check=False)
        seqs = cfg.sequences or [s for s in sorted(self.dataset.sequences) if s not in set(cfg.holdout)]
        overlap = sorted(set(seqs) & set(cfg.holdout))
        if overlap:
            raise AgentConfigError(f"training sequences overlap the held-out ones: {', '.join(overlap)}")
        self.sequences = self.dataset.select(None, seqs)
        self.specs: list[WindowSpec] = make_windows(self.dataset, self.sequences, cfg.windows_per_sequence,
                                                    cfg.window_length)
        self.cache = EpisodeCache(path=Path(cfg.cache_dir) if cfg.cache_dir else self.out / "cache")
        self.envs: dict[int, AgentEnv] = {}
        self.dirty: set[int] = set()
        self.step_time = 0.0
        self.step_count = 0
        self.miss_time = 0.0

    # -- environments ------------------------------------------------------------------------------
    def env(self, i: int) -> AgentEnv:
        if i not in self.envs:
            c = self.cfg
            self.envs[i] = AgentEnv(self.dataset, self.specs[i], c.backend, c.backend_options, c.env_scale,
                                    self.cache, self.quality_fn)
        return self.envs[i]

    def env_step(self, i: int, a: int):
        env = self.env(i)
        misses = self.cache.stats.misses
        t0 = time.perf_counter()
        s = env.step(a)
        dt = time.perf_counter() - t0
        self.step_time += dt
        self.step_count += 1
        if self.cache.stats.misses > misses:
            self.miss_time += dt
            self.dirty.add(i)
        return s

    def save_cache(self) -> None:
        for i in sorted(self.dirty):
            self.envs[i].save()
        self.dirty.clear()

    # -- baseline ----------------------------------------------------------------------------------
    def baseline(self, bar=None, task=None) -> dict:
        c = self.cfg
        path = self.cache.path / f"baseline-T{c.T}-runs{c.random_runs}-seed{c.seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text()) if path.exists() else {}
        for i, spec in enumerate(self.specs):
            env = self.env(i)
            entry = data.get(env.key)
            if entry is None or len(entry["jf"]) != c.random_runs or len(entry["jf"][0]) != c.T:
                t0 = time.perf_counter()
                misses0, steps0 = self.cache.stats.misses, self.step_count
                runs = random_runs(_Counting(self, i), c.random_runs, c.T, c.seed)
                entry = {"sample": spec.name, **runs, "seconds": time.perf_counter() - t0}
                data[env.key] = entry
                self.save_cache()
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({k: {f: v for f, v in e.items() if f not in ("mu", "sigma")}
                                           for k, e in data.items()}))
                tmp.replace(path)
                self.log(f"baseline {spec.name}: {time.perf_counter() - t0:.1f}s, "
                         f"{self.cache.stats.misses - misses0} misses / {self.step_count - steps0} steps")
            mu, sigma = fit_baseline(np.array(entry["jf"]), c.baseline_fit, c.sigma_floor)
            entry["mu"], entry["sigma"] = mu.tolist(), sigma.tolist()
            if bar is not None:
                bar.update(task, advance=1, description=f"random baseline {spec.name}")
        return data

    # -- main ---------------------------------------------------------------------------------------
    def transition_reward(self, t, P, a, h_before, entry) -> tuple[float, float]:
        c = self.cfg
        return step_reward(t, c.T, P, a, h_before, np.asarray(entry["mu"]), np.asarray(entry["sigma"]),
                           c.reward, c.reward_terms, c.task_decomposition)

    def run(self) -> dict:
        c = self.cfg
        if c.torch_threads:
            torch.set_num_threads(c.torch_threads)
        torch.manual_seed(c.seed)
        t_start = time.perf_counter()
        ckpt_path = self.out / "checkpoint.pt"
        policy = QNetwork(2, c.hidden, c.layers)
        target = QNetwork(2, c.hidden, c.layers)
        target.load_state_dict(policy.state_dict())
        opt = torch.optim.Adam(policy.parameters(), lr=c.lr)
        rng = np.random.default_rng(c.seed)
        prng = random.Random(c.seed)
        step = episode = 0
        curves: list[dict] = []
        wall_before = 0.0
        if ckpt_path.exists():
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
            if _resumable(ck["config"]) != _resumable(dataclasses.asdict(c)):
                raise AgentConfigError(f"{ckpt_path}: written with another configuration; use a new out_dir")
            policy.load_state_dict(ck["policy"])
            target.load_state_dict(ck["target"])
            opt.load_state_dict(ck["optimizer"])
            step, episode, curves = ck["step"], ck["episode"], ck["curves"]
            rng.bit_generator.state = ck["np_rng"]
            prng.setstate(ck["py_rng"])
            torch.set_rng_state(ck["torch_rng"])
            wall_before = ck.get("wall_s", 0.0)
            self.log(f"resumed from {ckpt_path} at step {step} (episode {episode})")
        (self.out / "config.json").write_text(json.dumps(dataclasses.asdict(c), indent=2))

        bar = task = None
        ctx = _bar(self.progress)
        with ctx as bar:
            if bar is not None:
                task = bar.add_task("random baseline", total=len(self.specs))
            base = self.baseline(bar, task)
            entries = [base[self.env(i).key] for i in range(len(self.specs))]
            (self.out / "baseline.json").write_text(json.dumps(
                {e["sample"]: {"jf0": e["jf0"], "mu": e["mu"], "sigma": e["sigma"],
                               "final_jf_mean": float(np.mean(np.array(e["jf"])[:, -1]))} for e in entries},
                indent=1))
            replay = Replay(c.replay_size)
            if c.fill_from_baseline:  # replayed from the cache: no backend work
                for i, entry in enumerate(entries):
                    for acts in entry["actions"]:
                        self._rollout_fixed(i, acts, entry, replay)
            if bar is not None:
                bar.update(task, description="training", completed=step, total=c.total_steps)
            next_ckpt = (step // c.checkpoint_every + 1) * c.checkpoint_every
            st = self.cache.stats
            self._rollout0 = (st.hits, st.misses, self.step_time, self.step_count)
            while step < c.total_steps:
                if c.time_limit_s and time.perf_counter() - t_start > c.time_limit_s:
                    self.log(f"time limit {c.time_limit_s:.0f}s reached at step {step}: stopping "
                             f"(resume with the same out_dir to continue)")
                    break
                i = int(rng.integers(len(self.specs)))
                env, entry = self.env(i), entries[i]
                s = env.reset()
                x = state_tensor(s.quality, s.history, c.state)
                goal_sum = aux_sum = 0.0
                jfs, acts, ep_losses = [], [], []
                eps = epsilon_at(step, c.eps_start, c.eps_end, c.eps_decay_steps)
                for t in range(1, c.T + 1):
                    eps = epsilon_at(step, c.eps_start, c.eps_end, c.eps_decay_steps)
                    if step < c.warmup_steps or rng.random() < eps:
                        a = int(rng.integers(env.n_frames))
                    else:
                        with torch.no_grad():
                            a = int(policy(x.unsqueeze(0))[0].argmax())
                    h_before = s.history
                    s = self.env_step(i, a)
                    x2 = state_tensor(s.quality, s.history, c.state)
                    goal, aux = self.transition_reward(t, s.jf, a, h_before, entry)
                    replay.push(x, a, goal + aux, x2, t == c.T)
                    goal_sum, aux_sum = goal_sum + goal, aux_sum + aux
                    jfs.append(s.jf)
                    acts.append(a)
                    x = x2
                    step += 1
                    if step >= c.warmup_steps and len(replay) >= c.batch_size:
                        for _ in range(c.updates_per_step):
                            ep_losses.append(dqn_update(policy, target, opt, replay.sample(c.batch_size, prng),
                                                        c.delta, c.gamma, c.grad_clip))
                    if step % c.target_update == 0:
                        target.load_state_dict(policy.state_dict())
                episode += 1
                mu_T = entry["mu"][c.T - 1]
                curves.append({"episode": episode, "step": step, "sample": self.specs[i].name,
                               "epsilon": round(eps, 4), "reward": goal_sum + aux_sum, "reward_goal": goal_sum,
                               "reward_aux": aux_sum, "jf0": entry["jf0"], "jf_final": jfs[-1],
                               "jf_auc": float(np.mean(jfs)), "random_mu": mu_T,
                               "jf_minus_random": jfs[-1] - mu_T,
                               "n_unique": len(set(acts)),
                               "loss": float(np.mean(ep_losses)) if ep_losses else float("nan"),
                               "actions": " ".join(map(str, acts))})
                if bar is not None:
                    recent = curves[-50:]
                    bar.update(task, completed=step, description=(
                        f"ep {episode} eps {eps:.2f} R {np.mean([r['reward'] for r in recent]):+.2f} "
                        f"dJF {np.mean([r['jf_minus_random'] for r in recent]):+.3f} "
                        f"hit {self.cache.stats.hit_rate:.0%}"))
                if step >= next_ckpt or step >= c.total_steps:
                    wall = wall_before + time.perf_counter() - t_start
                    self._checkpoint(ckpt_path, policy, target, opt, step, episode, curves, rng, prng, wall)
                    next_ckpt = (step // c.checkpoint_every + 1) * c.checkpoint_every
        wall = wall_before + time.perf_counter() - t_start
        save_weights(policy, self.out / "agent.pt", {"state": c.state, "config": dataclasses.asdict(c)})
        self._checkpoint(ckpt_path, policy, target, opt, step, episode, curves, rng, prng, wall)
        summary = self._summary(curves, wall, base)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def _rollout_fixed(self, i: int, acts: list[int], entry: dict, replay: Replay) -> None:
        c = self.cfg
        env = self.env(i)
        s = env.reset()
        x = state_tensor(s.quality, s.history, c.state)
        for t, a in enumerate(acts, start=1):
            h_before = s.history
            s = self.env_step(i, a)
            x2 = state_tensor(s.quality, s.history, c.state)
            goal, aux = self.transition_reward(t, s.jf, a, h_before, entry)
            replay.push(x, a, goal + aux, x2, t == c.T)
            x = x2

    def _checkpoint(self, path, policy, target, opt, step, episode, curves, rng, prng, wall) -> None:
        self.save_cache()
        blob = {"config": dataclasses.asdict(self.cfg), "policy": policy.state_dict(),
                "target": target.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "episode": episode, "curves": curves, "np_rng": rng.bit_generator.state,
                "py_rng": prng.getstate(), "torch_rng": torch.get_rng_state(), "wall_s": wall}
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)
        write_curves(curves, self.out)

    def _rollout_stats(self) -> dict:
        """Cache hits / misses and seconds per step of the agent's own rollouts (after the baseline)."""
        h0, m0, t0, n0 = getattr(self, "_rollout0", (0, 0, 0.0, 0))
        st = self.cache.stats
        hits, misses, n = st.hits - h0, st.misses - m0, self.step_count - n0
        return {"hits": hits, "misses": misses, "hit_rate": round(hits / max(1, hits + misses), 4),
                "seconds_per_env_step": round((self.step_time - t0) / max(1, n), 4)}

    def _summary(self, curves: list[dict], wall: float, base: dict) -> dict:
        st = self.cache.stats
        last = curves[-200:] if curves else []
        first = curves[:200]

        def avg(rows, k):
            return float(np.mean([r[k] for r in rows])) if rows else float("nan")

        return {
            "wall_s": round(wall, 1), "steps": curves[-1]["step"] if curves else 0, "episodes": len(curves),
            "samples": [s.name for s in self.specs], "n_samples": len(self.specs),
            "cache": {"hits": st.hits, "misses": st.misses, "backend_calls": st.backend_calls,
                      "hit_rate": round(st.hit_rate, 4), "note": "this process only (a resumed run "
                      "counts from the resume)"},
            "cache_agent_rollouts": self._rollout_stats(),
            "seconds_per_env_step": round(self.step_time / max(1, self.step_count), 4),
            "seconds_per_env_step_on_miss": round(self.miss_time / max(1, st.misses), 4),
            "first_200_episodes": {k: avg(first, k) for k in ("reward", "jf_final", "jf_minus_random", "n_unique")},
            "last_200_episodes": {k: avg(last, k) for k in ("reward", "jf_final", "jf_minus_random", "n_unique")},
            "random_baseline_mean_mu_T": float(np.mean([e["mu"][-1] for e in base.values()
                                                        if "mu" in e])) if base else None,
        }


class _Counting:
    """An env view whose ``step`` goes through the trainer's timing / dirty bookkeeping."""

    def __init__(self, trainer: _Trainer, i: int):
        self._t, self._i = trainer, i
        self._env = trainer.env(i)

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, a):
        return self._t.env_step(self._i, a)


class _bar:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __enter__(self):
        if not self.enabled:
            return None
        from ..progress import make_bar

        self.bar = make_bar("agent")
        self.bar.__enter__()
        return self.bar

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


# ------------------------------------------------------------------------------------------ outputs
CURVE_FIELDS = ["episode", "step", "sample", "epsilon", "reward", "reward_goal", "reward_aux", "jf0",
                "jf_final", "jf_auc", "random_mu", "jf_minus_random", "n_unique", "loss", "actions"]


def write_curves(curves: list[dict], out_dir: Path, window: int = 50) -> tuple[Path, Path]:
    """``curves.csv`` (one row per training episode) and ``curves.png`` (moving averages of the
    episode reward and of the final J&F vs the random policy, like the paper's Figure 6)."""
    out_dir = Path(out_dir)
    csv_path, png_path = out_dir / "curves.csv", out_dir / "curves.png"
    tmp = csv_path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CURVE_FIELDS)
        w.writeheader()
        for row in curves:
            w.writerow({k: row.get(k) for k in CURVE_FIELDS})
    tmp.replace(csv_path)
    if curves:
        from matplotlib.figure import Figure

        ep = np.array([r["episode"] for r in curves])

        def smooth(k):
            v = np.array([r[k] for r in curves], dtype=np.float64)
            n = min(window, len(v))
            return np.convolve(v, np.ones(n) / n, mode="valid"), ep[n - 1:]

        fig = Figure(figsize=(10, 4), dpi=120, layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        for k, lab in (("reward", "total"), ("reward_goal", "goal"), ("reward_aux", "aux")):
            y, x = smooth(k)
            ax1.plot(x, y, label=lab)
        ax1.set_xlabel("episode")
        ax1.set_ylabel(f"episode reward (moving mean of {window})")
        ax1.legend()
        for k, lab in (("jf_final", "agent final J&F"), ("random_mu", "random policy mu_T")):
            y, x = smooth(k)
            ax2.plot(x, y, label=lab)
        ax2.set_xlabel("episode")
        ax2.set_ylabel("J&F after T steps")
        ax2.legend()
        fig.savefig(png_path, format="png")
    return csv_path, png_path


def export_weights(out_dir: Path, dest: Path, command: str | None = None) -> tuple[Path, Path]:
    """Copy a finished run's policy to ``dest`` (.pt) with a ``.json`` beside it (command, config,
    wall time, cache hit rate, final training stats)."""
    out_dir, dest = Path(out_dir), Path(dest)
    summary = json.loads((out_dir / "summary.json").read_text())
    config = json.loads((out_dir / "config.json").read_text())
    blob = torch.load(out_dir / "agent.pt", map_location="cpu", weights_only=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, dest)
    meta = {"weights": dest.name, "command": command, "config": config, "training": summary,
            "torch": torch.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count()}
    dest.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return dest, dest.with_suffix(".json")


def train_agent(config: AgentTrainConfig, out_dir, progress: bool = True, quality_fn=None,
                log: Callable[[str], None] | None = None) -> dict:
    """Train (or resume) the agent into ``out_dir`` (checkpoint.pt, agent.pt, baseline.json (mu/sigma per sample),
    curves.csv/png, summary.json, cache/); returns the summary.

    ``quality_fn(frames, prediction) -> q[N]`` replaces the oracle quality (ground-truth J&F) in the
    state, e.g. a learned QA network for the wild setting (the cache then cannot skip the backend,
    since the prediction is needed at every step)."""
    return _Trainer(config, Path(out_dir), quality_fn=quality_fn, progress=progress, log=log).run()


def _resumable(config: dict) -> dict:
    """The options a resume must keep (``total_steps``, ``checkpoint_every``, ``torch_threads``,
    ``time_limit_s`` may change: e.g. extend a run)."""
    return {k: v for k, v in config.items() if k not in ("total_steps", "checkpoint_every", "torch_threads",
                                                       "time_limit_s")}

