"""The RL frame recommender (ivosw_bench.agent): model, rewards, targets, environment, training, strategy."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from ivosw_bench.agent.model import QNetwork, load_weights, save_weights, state_tensor
from ivosw_bench.agent.train import (AgentTrainConfig, aux_reward, double_q_targets, epsilon_at,
                                     fit_baseline, goal_reward, step_reward, train_agent)
from ivosw_bench.strategies.base import RoundState


@pytest.mark.parametrize("batch,length", [(1, 1), (1, 25), (4, 25), (3, 7), (2, 100)])
def test_model_shapes(batch, length):
    net = QNetwork(hidden=16)
    assert net(torch.rand(batch, length, 2)).shape == (batch, length)


def test_model_single_video_and_bad_input():
    net = QNetwork(hidden=8)
    assert net(torch.rand(37, 2)).shape == (1, 37)
    with pytest.raises(ValueError, match="expected input"):
        net(torch.rand(2, 5, 3))


def test_state_tensor_modes():
    q, h = np.array([0.5, 0.25]), np.array([1, 0])
    assert state_tensor(q, h).tolist() == [[0.5, 1.0], [0.25, 0.0]]
    assert state_tensor(q, h, "q")[:, 1].tolist() == [0.0, 0.0]
    assert state_tensor(q, h, "h")[:, 0].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        state_tensor(q, h, "x")


class _Fixed(torch.nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = torch.tensor(table, dtype=torch.float32)

    def forward(self, x):
        return self.table[: x.shape[0]]


def test_double_q_target_hand_example():
    policy = _Fixed([[1.0, 5.0, 2.0], [3.0, 0.0, 1.0]])   # argmax: 1, 0
    target = _Fixed([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])  # evaluated at those: 20, 40
    r = torch.tensor([1.0, -1.0])
    y = double_q_targets(policy, target, r, torch.zeros(2, 3, 2), torch.tensor([False, True]), 0.1, 0.95)
    # 0.1 * 1 + 0.95 * 20 ; done -> 0.1 * -1
    assert torch.allclose(y, torch.tensor([19.1, -0.1]))


def test_rewards():
    assert goal_reward(0.8, 0.6, 0.1, "eq3") == pytest.approx(1.0)
    assert goal_reward(0.65, 0.6, 0.1, "eq3") == pytest.approx(-0.5)
    assert goal_reward(0.8, 0.6, 0.1, "eq2") == pytest.approx(0.2)
    h = np.array([1, 0, 0, 2])
    assert aux_reward(1, h) == 1.0 and aux_reward(2, h) == 1.0
    assert aux_reward(0, h) == -1.0 and aux_reward(3, h) == -1.0
    assert aux_reward(0, np.array([1, 1])) == 1.0
    mu, sigma = np.array([0.5, 0.6, 0.7]), np.array([0.1, 0.1, 0.1])
    # task decomposition: goal at every T' with that T''s mu/sigma
    g, a = step_reward(1, 3, 0.7, 1, h, mu, sigma, decomposition=True)
    assert (g, a) == (pytest.approx(1.0), 1.0)
    g, a = step_reward(2, 3, 0.7, 0, h, mu, sigma, decomposition=True)
    assert (g, a) == (pytest.approx(0.0), -1.0)
    # without: the goal only at the end
    assert step_reward(1, 3, 0.7, 1, h, mu, sigma, decomposition=False)[0] == 0.0
    assert step_reward(3, 3, 0.9, 1, h, mu, sigma, decomposition=False)[0] == pytest.approx(1.0)
    assert step_reward(3, 3, 0.9, 1, h, mu, sigma, terms="aux") == (0.0, 1.0)
    assert step_reward(3, 3, 0.9, 0, h, mu, sigma, terms="goal") == (pytest.approx(1.0), 0.0)
    assert step_reward(3, 3, 0.9, 0, h, mu, sigma, reward="eq2")[0] == pytest.approx(0.2)


def test_fit_baseline():
    rng = np.random.default_rng(0)
    jf = np.stack([rng.normal(0.6, 0.05, 30), rng.normal(0.7, 0.02, 30)], axis=1)
    mu, sigma = fit_baseline(jf, "normal")
    assert mu == pytest.approx(jf.mean(0)) and sigma == pytest.approx(jf.std(0, ddof=1))
    mu_t, sigma_t = fit_baseline(jf, "t")
    assert np.allclose(mu_t, mu, atol=0.03) and (sigma_t > 0).all()
    assert fit_baseline(np.full((5, 1), 0.5), "t", sigma_floor=0.01)[1][0] == 0.01


def test_epsilon_schedule():
    assert epsilon_at(0) == pytest.approx(0.7)
    assert epsilon_at(2500) == pytest.approx(0.475)
    assert epsilon_at(5000) == pytest.approx(0.25)
    assert epsilon_at(99999) == pytest.approx(0.25)
    assert epsilon_at(10, 0.5, 0.1, 0) == 0.1


def test_env_cache_hits(tiny_davis, tmp_path):
    from ivosw_bench.agent.env import AgentEnv, make_windows
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.episode import EpisodeCache

    ds = open_dataset(str(tiny_davis))
    specs = make_windows(ds, ["one", "two"], per_sequence=2, length=25)
    assert [s.sequence for s in specs] == ["one", "two"]  # shorter than N': the whole video once
    cache = EpisodeCache(path=tmp_path / "cache")
    env = AgentEnv(ds, specs[1], "classic", env_scale=0.5, cache=cache)
    s0 = env.reset()
    assert s0.quality.shape == (7,) and s0.history.tolist() == [0, 0, 0, 1, 0, 0, 0] and s0.t == 1
    s1 = env.step(0)
    s2 = env.step(0)
    assert s2.history[0] == 2 and s2.t == 3 and 0 <= s2.jf <= 1
    hits = cache.stats.hits
    env.reset()
    r1, r2 = env.step(0), env.step(0)
    assert cache.stats.hits == hits + 3
    assert np.allclose(r2.quality, s2.quality) and np.allclose(r1.quality, s1.quality)
    env.save()
    # a fresh cache on the same folder starts warm
    cache2 = EpisodeCache(path=tmp_path / "cache")
    env2 = AgentEnv(ds, specs[1], "classic", env_scale=0.5, cache=cache2)
    env2.reset()
    env2.step(0)
    assert cache2.stats.misses == 0 and cache2.stats.backend_calls == 0


def test_env_quality_fn_hook(tiny_davis):
    from ivosw_bench.agent.env import AgentEnv, WindowSpec
    from ivosw_bench.data.davis_layout import open_dataset

    seen = []

    def qfn(frames, prediction):
        seen.append(prediction.labels.shape)
        return np.full(len(frames), 0.25)

    env = AgentEnv(open_dataset(str(tiny_davis)), WindowSpec("one", 1, 0, None), quality_fn=qfn)
    assert env.reset().quality.tolist() == [0.25] * 6
    env.step(4)
    assert len(seen) == 2


def _small_cfg(tiny_davis, tmp_path, steps):
    return AgentTrainConfig(dataset=str(tiny_davis), holdout=[], T=2, random_runs=3, total_steps=steps,
                            batch_size=4, checkpoint_every=10, target_update=5, hidden=8, lr=1e-3,
                            cache_dir=str(tmp_path / "cache"), eps_decay_steps=20)


def test_train_smoke_and_resume(tiny_davis, tmp_path):
    out = tmp_path / "run"
    s1 = train_agent(_small_cfg(tiny_davis, tmp_path, 10), out, progress=False)
    assert s1["steps"] == 10
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 10
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert len(rows) == 5 and (out / "curves.png").stat().st_size > 0
    s2 = train_agent(_small_cfg(tiny_davis, tmp_path, 20), out, progress=False)  # resume, extend
    assert s2["steps"] == 20 and s2["episodes"] == 10
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(2, 21, 2))
    assert s2["cache"]["hit_rate"] > 0  # the baseline is reloaded from the cache: hits only
    net, blob = load_weights(out / "agent.pt")
    assert blob["state"] == "both"
    assert json.loads((out / "summary.json").read_text())["steps"] == 20
    with pytest.raises(ValueError, match="another configuration"):
        train_agent(AgentTrainConfig(**{**_small_cfg(tiny_davis, tmp_path, 20).__dict__, "gamma": 0.5}),
                    out, progress=False)


def _state(n, annotated):
    h = np.zeros(n, np.int64)
    h[annotated] = 1
    return RoundState(t=1, n_frames=n, quality=np.linspace(0, 1, n), history=h, annotated=list(annotated))


def test_agent_strategy(tmp_path):
    from ivosw_bench.agent.strategy import AgentStrategy, AgentWeightsError

    path = tmp_path / "w.pt"
    save_weights(QNetwork(hidden=8), path, {"state": "both"})
    strat = AgentStrategy(agent_weights=path)
    assert strat.name == "agent" and not strat.needs_oracle
    for n in (1, 2, 25, 100, 250):
        ann = [0] if n > 1 else []
        a = strat.recommend(_state(n, ann))
        assert 0 <= a < n and (n == 1 or a not in ann)
    rep = AgentStrategy(agent_weights=path, allow_repeats=True)
    assert 0 <= rep.recommend(_state(5, [0])) < 5
    with pytest.raises(AgentWeightsError, match="missing.pt: agent weights not found"):
        AgentStrategy(agent_weights=tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AgentWeightsError, match="bad.pt: not a valid agent weights file"):
        AgentStrategy(agent_weights=bad)


def test_config_from_options():
    from ivosw_bench.agent.train import AgentConfigError, config_from_options

    cfg = config_from_options({"lr": 1e-3, "env_scale": None},
                              ["reward=eq2", "task_decomposition=false", 'holdout=["bear"]', "state=q"])
    assert (cfg.lr, cfg.env_scale, cfg.reward, cfg.task_decomposition, cfg.holdout, cfg.state) == \
        (1e-3, 1.0, "eq2", False, ["bear"], "q")
    with pytest.raises(AgentConfigError, match="unknown agent training option"):
        config_from_options({}, ["nope=1"])
    with pytest.raises(AgentConfigError, match="reward must be one of"):
        config_from_options({}, ["reward=eq9"])


def test_shipped_weights_load():
    from ivosw_bench.agent.strategy import DEFAULT_WEIGHTS, AgentStrategy

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {DEFAULT_WEIGHTS}")
    strat = AgentStrategy()
    assert strat.weights_path == DEFAULT_WEIGHTS
    for n in (10, 82):
        assert 0 <= strat.recommend(_state(n, [3])) < n
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert meta["config"]["holdout"] == ["bear", "boat", "car-turn", "dance-jump", "kite-walk", "tennis"]
