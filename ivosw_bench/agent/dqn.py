"""Double Q-learning on variable-length videos: transitions, padded batches, targets, updates.

A transition is (features of s [N, F], action, reward, features of s' [N, F], allowed actions in s'
[N] bool, done). Batches pad videos of different lengths (the LSTM ignores the padding) and mask the
actions that are not allowed, so exploration, the greedy choice, the target's argmax and the
strategy all use one action space.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from .model import QNetwork


@dataclass
class Transition:
    x: np.ndarray          # [N, F] float32
    action: int
    reward: float
    x_next: np.ndarray     # [N, F] float32
    allowed_next: np.ndarray  # [N] bool
    done: bool


def pad(xs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, Nmax, F] zero-padded tensor and the lengths [B] of a list of [N_i, F] arrays."""
    lengths = torch.tensor([len(x) for x in xs])
    out = torch.zeros(len(xs), int(lengths.max()), xs[0].shape[1])
    for i, x in enumerate(xs):
        out[i, :len(x)] = torch.from_numpy(np.asarray(x, np.float32))
    return out, lengths


def masked(q: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Q values with the actions that are not allowed (and padding) at -inf."""
    return q.masked_fill(~allowed, float("-inf"))


def allowed_tensor(masks: list[np.ndarray], width: int) -> torch.Tensor:
    out = torch.zeros(len(masks), width, dtype=torch.bool)
    for i, m in enumerate(masks):
        out[i, :len(m)] = torch.from_numpy(np.asarray(m, bool))
    return out


def double_q_targets(policy: QNetwork, target: QNetwork, rewards: torch.Tensor, x_next: torch.Tensor,
                     lengths: torch.Tensor, allowed_next: torch.Tensor, done: torch.Tensor, delta: float = 0.1,
                     gamma: float = 0.95) -> torch.Tensor:
    """``delta * r + gamma * Q_target(s', argmax_{a allowed} Q_policy(s', a))`` (no bootstrap when done)."""
    with torch.no_grad():
        a_next = masked(policy(x_next, lengths), allowed_next).argmax(dim=1, keepdim=True)
        q_next = target(x_next, lengths).gather(1, a_next).squeeze(1)
        return delta * rewards + gamma * (1.0 - done.float()) * q_next


class Replay:
    """Uniform replay buffer of transitions (videos of any length)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.items: list[Transition] = []
        self.pos = 0

    def __len__(self) -> int:
        return len(self.items)

    def push(self, tr: Transition) -> None:
        if len(self.items) < self.capacity:
            self.items.append(tr)
        else:
            self.items[self.pos] = tr
        self.pos = (self.pos + 1) % self.capacity

    def sample(self, n: int, rng: random.Random) -> list[Transition]:
        return [self.items[rng.randrange(len(self.items))] for _ in range(n)]


def dqn_update(policy: QNetwork, target: QNetwork, opt: torch.optim.Optimizer, batch: list[Transition],
               delta: float, gamma: float, grad_clip: float | None = None) -> float:
    """One double-DQN step (MSE between Q_policy(s, a) and the target) on a batch; returns the loss."""
    x, lengths = pad([b.x for b in batch])
    x2, lengths2 = pad([b.x_next for b in batch])
    allowed2 = allowed_tensor([b.allowed_next for b in batch], x2.shape[1])
    a = torch.tensor([b.action for b in batch])
    r = torch.tensor([b.reward for b in batch], dtype=torch.float32)
    d = torch.tensor([b.done for b in batch])
    y = double_q_targets(policy, target, r, x2, lengths2, allowed2, d, delta, gamma)
    q = policy(x, lengths).gather(1, a.unsqueeze(1)).squeeze(1)
    loss = torch.nn.functional.mse_loss(q, y)
    opt.zero_grad()
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
    opt.step()
    return float(loss.item())
