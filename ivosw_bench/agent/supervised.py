"""Learning from the ceiling: the look-ahead data (:mod:`.lookahead`) as supervision of the Q-network.

Every look-ahead state lists, for its candidate frames, the sample's J&F after annotating each one.
Scored with the paper's reward (goal at this step's horizon against the random policy, plus the
diversity term; :mod:`.rewards`), that is the myopic value of every action, which the **warm start**
regresses: ``Q(s, a) = delta * r(s, a)`` for every tried, allowed candidate a. Then **offline double
DQN** on the same transitions adds the bootstrapped future: ``y = delta * r + gamma *
Q_target(s', argmax_a' Q(s', a'))`` with s' = (the per-frame J&F after a, the history with a added,
t + 1); the next states are known for the oracle setting only (the QA network's prediction was
stored for the states actually visited), so the wild setting uses the warm start.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from .dqn import Transition, allowed_tensor, dqn_update, masked, pad
from .features import allowed_actions, state_features
from .lookahead import load_lookahead
from .rewards import step_reward


@dataclass
class LAState:
    """One look-ahead state: what the agent sees and what each candidate frame leads to."""

    sequence: str
    scribble_idx: int
    t: int                      # rounds done (the agent's step t comes next)
    rounds: int
    quality: np.ndarray         # [N] the state's q (oracle J&F, or the QA prediction in the wild)
    history: np.ndarray         # [N]
    jf: float
    candidates: np.ndarray      # [C] frames tried
    jf_next: np.ndarray         # [C] sample J&F after each
    q_next: list | None         # [C][N] per-frame J&F after each (oracle next states)
    cues: np.ndarray | None = None   # [N, 4] the prediction's cues (agent.cues)
    cues_next: list | None = None    # [C][N][4] the cues after each candidate

    @property
    def n(self) -> int:
        return len(self.quality)


def load_states(la_dir, sequences: list[str], setting: str = "oracle") -> list[LAState]:
    """The look-ahead states of ``sequences`` (all policies' files), with the setting's quality."""
    key = "q_oracle" if setting == "oracle" else "q_wild"
    out = []
    for d in load_lookahead(la_dir, sequences):
        rounds = int(d["config"]["rounds"])
        for s in d["states"]:
            if key not in s:
                raise ValueError(f"{la_dir}: look-ahead data of {d['sequence']} has no '{key}' "
                                 f"(generate it with --quality-weights)")
            out.append(LAState(d["sequence"], int(d["scribble_idx"]), int(s["t"]), rounds,
                               np.asarray(s[key], np.float32), np.asarray(s["history"], np.int64), float(s["jf"]),
                               np.asarray(s["candidates"], np.int64), np.asarray(s["jf_next"], np.float64),
                               s.get("q_next"), None if s.get("cues") is None else np.asarray(s["cues"], np.float32),
                               s.get("cues_next")))
    return out


def reversed_state(st: LAState) -> LAState:
    """The same state with time reversed (frame f -> N-1-f): the backend propagates both ways, so a
    reversed video is another plausible sample (data augmentation of the warm start)."""
    n = st.n
    flip = lambda a: None if a is None else np.asarray(a)[::-1].copy()  # noqa: E731
    return LAState(st.sequence, st.scribble_idx, st.t, st.rounds, flip(st.quality), flip(st.history), st.jf,
                   (n - 1 - st.candidates)[::-1].copy(), st.jf_next[::-1].copy(),
                   None if st.q_next is None else [list(reversed(q)) for q in reversed(st.q_next)],
                   flip(st.cues), None if st.cues_next is None else [c[::-1] for c in reversed(st.cues_next)])


def rewards(st: LAState, baseline: dict, cfg) -> np.ndarray:
    """The paper's reward (goal + aux, as configured) of every candidate of a state."""
    mu, sigma = np.asarray(baseline["mu"]), np.asarray(baseline["sigma"])
    steps = st.rounds - 1
    out = np.empty(len(st.candidates))
    for i, (a, p) in enumerate(zip(st.candidates, st.jf_next)):
        g, x = step_reward(st.t, steps, float(p), int(a), st.history, mu, sigma, cfg.reward, cfg.reward_terms,
                           cfg.task_decomposition)
        out[i] = g + x
    return out


def _features(st: LAState, mode: str) -> np.ndarray:
    return state_features(st.quality, st.history, st.t, st.rounds, mode, st.cues)


WARM_LOSSES = ("reward", "zscore")


def warm_targets(st: LAState, baseline: dict, cfg, allowed: np.ndarray) -> np.ndarray:
    """The warm start's target for the allowed candidates of a state: ``reward``: ``delta * r(s, a)``
    (the paper's reward, the scale the double DQN continues from); ``zscore``: the candidates' next
    J&F standardised within the state (only their ranking matters to the choice)."""
    if cfg.warm_loss == "reward":
        return cfg.delta * rewards(st, baseline, cfg)[allowed]
    g = st.jf_next[allowed]
    return (g - g.mean()) / (g.std() + 1e-3)


def smooth_noise(n: int, sd: float, frames: float, rng: np.random.Generator) -> np.ndarray:
    """[n] Gaussian noise with standard deviation ``sd`` correlated over about ``frames`` frames (white
    noise convolved with a Gaussian kernel, rescaled): a model of a QA network's per-frame errors,
    which drift over stretches of a video rather than jump frame to frame."""
    white = rng.standard_normal(n + 6 * int(np.ceil(frames)))
    k = np.arange(-3 * int(np.ceil(frames)), 3 * int(np.ceil(frames)) + 1)
    kernel = np.exp(-0.5 * (k / frames) ** 2)
    kernel /= np.sqrt((kernel ** 2).sum())  # unit variance after the convolution
    return sd * np.convolve(white, kernel, mode="valid")[:n]


def noisy_q(x: np.ndarray, sd: float, frames: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of state features ``x`` [N, F] whose q (column 0) carries :func:`smooth_noise`, clipped to
    [0, 1]: trains an agent for a quality estimate that ranks frames imperfectly (the wild setting)."""
    out = x.copy()
    out[:, 0] = np.clip(out[:, 0] + smooth_noise(len(x), sd, frames, rng), 0.0, 1.0)
    return out


def warm_start(net, states: list[LAState], baselines: dict, cfg, epochs: int, lr: float, batch: int,
               seed: int, log=None) -> list[float]:
    """Regress :func:`warm_targets` on every allowed candidate of every state (MSE over the tried
    candidates); returns the mean loss per epoch. With ``cfg.q_noise`` every state's q gets fresh
    smooth noise each time it is used (:func:`noisy_q`)."""
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    sd, frames = float(getattr(cfg, "q_noise", 0.0)), float(getattr(cfg, "q_noise_frames", 5.0))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=cfg.warm_weight_decay)
    if cfg.augment_reverse:
        states = list(states) + [reversed_state(st) for st in states]
    items = []
    for st in states:
        allowed = allowed_actions(st.history, cfg.action_space)[st.candidates]
        if not allowed.any():
            continue
        tgt = warm_targets(st, baselines.get((st.sequence, st.scribble_idx)), cfg, allowed)
        items.append((_features(st, cfg.state), st.candidates[allowed], tgt))
    losses = []
    for epoch in range(epochs):
        rng.shuffle(items)
        total = 0.0
        for i in range(0, len(items), batch):
            chunk = items[i:i + batch]
            feats = [noisy_q(c[0], sd, frames, noise_rng) if sd > 0 else c[0] for c in chunk]
            x, lengths = pad(feats)
            q = net(x, lengths)
            rows = torch.cat([torch.full((len(c[1]),), k) for k, c in enumerate(chunk)])
            cols = torch.from_numpy(np.concatenate([c[1] for c in chunk]))
            y = torch.from_numpy(np.concatenate([c[2] for c in chunk]).astype(np.float32))
            loss = torch.nn.functional.mse_loss(q[rows, cols], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(chunk)
        losses.append(total / max(1, len(items)))
        if log and (epoch + 1) % max(1, epochs // 5) == 0:
            log(f"warm start epoch {epoch + 1}/{epochs}: loss {losses[-1]:.5f}")
    return losses


def offline_transitions(states: list[LAState], baselines: dict, cfg) -> list[Transition]:
    """(s, a, r, s') of every allowed candidate of every oracle look-ahead state."""
    out = []
    for st in states:
        if st.q_next is None:
            continue
        x = _features(st, cfg.state)
        r = rewards(st, baselines[(st.sequence, st.scribble_idx)], cfg)
        allowed = allowed_actions(st.history, cfg.action_space)
        done = st.t + 1 >= st.rounds
        for i, a in enumerate(st.candidates):
            if not allowed[a]:
                continue
            h2 = st.history.copy()
            h2[a] += 1
            c2 = None if st.cues_next is None else st.cues_next[i]
            x2 = state_features(st.q_next[i], h2, st.t + 1, st.rounds, cfg.state, c2)
            out.append(Transition(x, int(a), float(r[i]), x2, allowed_actions(h2, cfg.action_space), done))
    return out


def offline_dqn(policy, target, transitions: list[Transition], cfg, epochs: int, lr: float, seed: int,
                log=None) -> list[float]:
    """Double DQN over the logged transitions (the target network copied every epoch)."""
    if not transitions:
        return []
    rng = random.Random(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        target.load_state_dict(policy.state_dict())
        order = list(range(len(transitions)))
        rng.shuffle(order)
        total, n = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            batch = [transitions[j] for j in order[i:i + cfg.batch_size]]
            total += dqn_update(policy, target, opt, batch, cfg.delta, cfg.gamma, cfg.grad_clip) * len(batch)
            n += len(batch)
        losses.append(total / max(n, 1))
        if log:
            log(f"offline double DQN epoch {epoch + 1}/{epochs}: loss {losses[-1]:.5f}")
    return losses


def state_regret(net, states: list[LAState], cfg) -> dict:
    """On look-ahead states: the J&F the network's choice (among tried, allowed candidates) gives up
    against the best candidate, and the same for a uniformly random allowed candidate."""
    regrets, rand = [], []
    with torch.no_grad():
        for st in states:
            allowed = allowed_actions(st.history, cfg.action_space)[st.candidates]
            if not allowed.any():
                continue
            x, lengths = pad([_features(st, cfg.state)])
            q = masked(net(x, lengths)[0], allowed_tensor([allowed_actions(st.history, cfg.action_space)],
                                                          st.n)[0])[st.candidates]
            best = st.jf_next[allowed].max()
            regrets.append(best - st.jf_next[int(torch.argmax(q))])
            rand.append(best - st.jf_next[allowed].mean())
    return {"regret": float(np.mean(regrets)) if regrets else float("nan"),
            "random_regret": float(np.mean(rand)) if rand else float("nan"), "n": len(regrets)}
