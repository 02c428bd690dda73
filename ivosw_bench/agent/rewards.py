"""The paper's rewards (Yin et al., CVPR 2021, eq. 2-3 and the diversity term) and the random-policy
baseline they are measured against.

- goal reward of a step whose sample J&F afterwards is P, at horizon T' (the number of the agent's
  steps so far): eq. 3 ``(P - (mu_T' + sigma_T')) / sigma_T'`` or eq. 2 ``P - mu_T'``; mu/sigma from
  ``random_runs`` episodes of uniformly random frames on the same sample (``fit="t"``: a
  t-distribution fit, the paper's; ``"normal"``: mean and standard deviation); with task
  decomposition every step is scored at its own T', else only the last;
- auxiliary (diversity) reward: +1 when the chosen frame is among the least-annotated, else -1.
"""
from __future__ import annotations

import zlib

import numpy as np

REWARDS = ("eq3", "eq2")
REWARD_TERMS = ("both", "goal", "aux")


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
    """(goal, aux) reward of the agent's step ``t`` (1-based) of a T-step episode; ``mu``/``sigma`` are
    indexed by T'-1. The goal term is 0 except at t = T, or at every t with ``decomposition``; a term
    switched off by ``terms`` is 0."""
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


def random_runs(env, runs: int, steps: int, seed: int) -> dict:
    """``runs`` episodes of ``steps`` uniformly random frames (repeats allowed, like the Random
    strategy) -> {"actions": [runs][steps], "jf": [runs][steps], "jf0": J&F after the initial scribble}."""
    rng = np.random.default_rng([seed, zlib.crc32(env.key.encode())])
    actions, jfs = [], []
    jf0 = env.reset().jf
    for _ in range(runs):
        env.reset()
        acts = [int(a) for a in rng.integers(env.n_frames, size=steps)]
        actions.append(acts)
        jfs.append([float(env.step(a).jf) for a in acts])
    return {"actions": actions, "jf": jfs, "jf0": float(jf0)}
