"""The RL frame recommender (ivosw_bench.agent): model, rewards, targets, environment, training, strategy."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from ivosw_bench.agent.dqn import double_q_targets, pad
from ivosw_bench.agent.features import RICH_FEATURES, allowed_actions, state_features
from ivosw_bench.agent.model import (QNetwork, load_weights, numpy_q_values, numpy_weights, save_weights,
                                     state_tensor)
from ivosw_bench.agent.rewards import aux_reward, epsilon_at, fit_baseline, goal_reward, step_reward
from ivosw_bench.agent.supervised import load_states
from ivosw_bench.agent.train import AgentTrainConfig, _Trainer, train_agent
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
    assert state_tensor(q, h, "both").tolist() == [[0.5, 1.0], [0.25, 0.0]]  # the former name
    assert state_tensor(q, h, "q")[:, 1].tolist() == [0.0, 0.0]
    assert state_tensor(q, h, "h")[:, 0].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        state_tensor(q, h, "x")


class _Fixed(torch.nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = torch.tensor(table, dtype=torch.float32)

    def forward(self, x, lengths=None):
        return self.table[: x.shape[0]]


def test_double_q_target_hand_example():
    policy = _Fixed([[1.0, 5.0, 2.0], [3.0, 0.0, 9.0]])   # argmax over allowed: 1, 0 (frame 2 not allowed)
    target = _Fixed([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])  # evaluated at those: 20, 40
    r = torch.tensor([1.0, -1.0])
    allowed = torch.tensor([[True, True, True], [True, True, False]])
    y = double_q_targets(policy, target, r, torch.zeros(2, 3, 2), torch.tensor([3, 3]), allowed,
                         torch.tensor([False, False]), 0.1, 0.95)
    assert torch.allclose(y, torch.tensor([19.1, 37.9]))  # 0.1 * 1 + 0.95 * 20 ; 0.1 * -1 + 0.95 * 40
    done = double_q_targets(policy, target, r, torch.zeros(2, 3, 2), torch.tensor([3, 3]), allowed,
                            torch.tensor([True, True]), 0.1, 0.95)
    assert torch.allclose(done, torch.tensor([0.1, -0.1]))


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


def test_rich_features():
    q = np.linspace(0.2, 0.9, 10)
    h = np.zeros(10, np.int64)
    h[[2, 6]] = 1
    x = state_features(q, h, t=3, rounds=8, mode="rich")
    assert x.shape == (10, len(RICH_FEATURES))
    col = {name: x[:, i] for i, name in enumerate(RICH_FEATURES)}
    assert col["annotated"].tolist() == [0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert col["dist_left"][4] == pytest.approx(0.2) and col["dist_right"][4] == pytest.approx(0.2)
    assert col["dist_left"][0] == 1.0 and col["open_end"][0] == 1.0 and col["open_end"][4] == 0.0
    assert col["gap"][4] == pytest.approx(0.4) and col["gap"][8] == pytest.approx(0.4)  # 6 .. end (10)
    assert col["rounds_left"][0] == pytest.approx(5 / 8) and col["position"][9] == pytest.approx(1.0)
    assert allowed_actions(h, "free").sum() == 8 and allowed_actions(h, "all").all()
    assert allowed_actions(np.ones(3), "free").all()  # every frame annotated: all allowed again


@pytest.mark.parametrize("layers", [1, 2])
def test_numpy_forward_equals_torch(layers):
    torch.manual_seed(0)
    net = QNetwork(len(RICH_FEATURES), 16, layers).eval()
    x = np.random.default_rng(0).random((37, len(RICH_FEATURES))).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(numpy_q_values(numpy_weights(net), x, layers), ref, atol=1e-5)


def test_padded_batches_equal_single_videos():
    torch.manual_seed(0)
    net = QNetwork(2, 8).eval()
    a, b = np.random.rand(5, 2).astype(np.float32), np.random.rand(9, 2).astype(np.float32)
    x, lengths = pad([a, b])
    with torch.no_grad():
        both = net(x, lengths)
        np.testing.assert_allclose(both[0, :5].numpy(), net(torch.from_numpy(a))[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(both[1].numpy(), net(torch.from_numpy(b))[0].numpy(), atol=1e-6)


def test_ensemble_standardises_averages_and_round_trips(tmp_path):
    from ivosw_bench.agent.model import QEnsemble, combine_q, save_ensemble
    from ivosw_bench.agent.strategy import AgentStrategy
    from ivosw_bench.errors import WeightsError

    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"s{seed}.pt")
        save_weights(QNetwork(2, 8).eval(), paths[-1], {"state": "paper", "action_space": "all"})
    save_ensemble(paths, tmp_path / "ens.pt")
    net, blob = load_weights(tmp_path / "ens.pt")
    assert isinstance(net, QEnsemble) and len(net.members) == 3 and blob["action_space"] == "all"
    assert [m["path"] for m in blob["members"]] == [str(p) for p in paths]
    q, h = np.random.default_rng(1).random(23), np.zeros(23)
    h[4] = 1
    x = state_features(q, h, 2, 8, "paper")
    singles = [numpy_q_values(numpy_weights(load_weights(p)[0]), x, 1) for p in paths]
    z = [(s - s.mean()) / s.std() for s in singles]
    expect = np.mean(z, axis=0)
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.from_numpy(x))[0].numpy(), expect, rtol=2e-3, atol=1e-4)
        xp, lengths = pad([x, x[:9]])  # padding does not leak into the standardisation
        np.testing.assert_allclose(net(xp, lengths)[1, :9].numpy(), combine_q(np.stack([s[:9] for s in
                                   [numpy_q_values(numpy_weights(load_weights(p)[0]), x[:9], 1) for p in paths]])),
                                   rtol=2e-3, atol=1e-4)
    strat = AgentStrategy(agent_weights=tmp_path / "ens.pt")
    state = RoundState(t=2, n_frames=23, quality=q, history=h, annotated=[4], rounds=8)
    np.testing.assert_allclose(strat.q_values(state), expect, rtol=2e-3, atol=1e-4)
    assert strat.recommend(state) == int(np.argmax(expect))
    np.testing.assert_array_equal(combine_q([singles[0]]), singles[0])  # one network: unchanged
    save_weights(QNetwork(2, 8), tmp_path / "rich.pt", {"state": "rich", "action_space": "all"})
    with pytest.raises(WeightsError, match="rich.pt: state 'rich' differs"):
        save_ensemble([paths[0], tmp_path / "rich.pt"], tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="at least 2"):
        save_ensemble(paths[:1], tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="ens.pt: is itself an ensemble"):
        save_ensemble([tmp_path / "ens.pt", paths[0]], tmp_path / "bad.pt")


@pytest.fixture
def lookahead_dir(tiny_davis, tmp_path):
    from ivosw_bench.agent.lookahead import LookaheadConfig, generate

    cfg = LookaheadConfig(dataset=str(tiny_davis), backend="fake", env_scale=1.0, rounds=3, stride=1,
                          policies=["greedy", "linspace"], quality_weights=None)
    files = generate(cfg, tmp_path / "la", jobs=1)
    assert len(files) == 4  # 2 samples x 2 policies
    return tmp_path / "la"


def test_lookahead_data(lookahead_dir):
    d = json.loads((lookahead_dir / "two__001__greedy.json").read_text())
    assert len(d["states"]) == 2 and d["backend_calls"] == 2 * 7
    s0, s1 = d["states"]
    assert s0["t"] == 1 and s0["candidates"] == list(range(7)) and len(s0["q_next"]) == 7
    best = s0["candidates"][int(np.argmax(s0["jf_next"]))]
    assert s1["prefix"] == [best] and s1["jf"] == pytest.approx(max(s0["jf_next"]), abs=1e-5)
    assert d["final_prefix"][0] == best


def _small_cfg(tiny_davis, lookahead_dir, **kw):
    base = dict(dataset=str(tiny_davis), backend="fake", env_scale=1.0, rounds=3, random_runs=3, hidden=8,
                lookahead_dir=lookahead_dir if isinstance(lookahead_dir, (list, int)) else str(lookahead_dir),
                val_sequences=["one"], warm_epochs=3, offline_epochs=1,
                total_steps=6, batch_size=4, eval_every=4, target_update=2, jobs=1)
    base.update(kw)
    return AgentTrainConfig(**base)


def test_train_warm_start_offline_online_and_selection(tiny_davis, lookahead_dir, tmp_path):
    out = tmp_path / "run"
    summary = train_agent(_small_cfg(tiny_davis, lookahead_dir), out, progress=False)
    tags = [r["checkpoint"] for r in summary["selection"]]
    assert tags[:2] == ["warm", "offline"] and tags[-1] == "online-6"
    assert summary["selected"]["val_round_auc"] == max(r["val_round_auc"] for r in summary["selection"])
    assert summary["train_sequences"] == ["two"] and summary["val_sequences"] == ["one"]
    net, blob = load_weights(out / "agent.pt")
    assert blob["state"] == "rich" and blob["action_space"] == "free" and net.in_features == len(RICH_FEATURES)
    rows = list(csv.DictReader((out / "selection.csv").open()))
    assert len(rows) == len(tags) and (out / "baseline.json").exists()
    # the paper's pure-RL recipe still runs (no look-ahead data needed)
    paper = train_agent(_small_cfg(tiny_davis, lookahead_dir, warm_start=False, offline_epochs=0, state="paper",
                                   action_space="all"), tmp_path / "paper", progress=False)
    assert [r["checkpoint"] for r in paper["selection"]][-1] == "online-6"


def test_warm_start_alone_skips_the_random_baseline_and_reads_several_lookahead_dirs(tiny_davis, lookahead_dir,
                                                                                        tmp_path):
    import shutil

    second = tmp_path / "la2"
    shutil.copytree(lookahead_dir, second)
    cfg = _small_cfg(tiny_davis, [str(lookahead_dir), str(second)], offline_epochs=0, total_steps=0, state="paper")
    assert not cfg.needs_baseline() and cfg.lookahead_dirs() == [str(lookahead_dir), str(second)]
    trainer = _Trainer(cfg, tmp_path / "run", progress=False)
    one = [s for s in load_states(lookahead_dir, ["two"])]
    assert len(trainer._lookahead_states(["two"])) == 2 * len(one)  # both folders' states
    summary = trainer.run()
    assert [r["checkpoint"] for r in summary["selection"]] == ["warm"]
    assert not list((second / "cache").glob("baseline-*.json"))  # no random runs were played
    assert _small_cfg(tiny_davis, lookahead_dir, warm_loss="reward", offline_epochs=0, total_steps=0).needs_baseline()
    with pytest.raises(Exception, match="lookahead_dir must be"):
        _small_cfg(tiny_davis, 3).check()


def test_warm_start_needs_lookahead_data():
    from ivosw_bench.errors import AgentConfigError

    with pytest.raises(AgentConfigError, match="warm_start needs look-ahead data"):
        AgentTrainConfig().check()


def _state(n, annotated):
    h = np.zeros(n, np.int64)
    h[annotated] = 1
    return RoundState(t=1, n_frames=n, quality=np.linspace(0, 1, n), history=h, annotated=list(annotated),
                      rounds=8)


def test_agent_strategy(tmp_path):
    from ivosw_bench.agent.strategy import AgentStrategy
    from ivosw_bench.errors import WeightsError as AgentWeightsError

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
                              ["reward=eq2", "task_decomposition=false", 'holdout=["bear"]', "state=q",
                               "warm_start=false"])
    assert (cfg.lr, cfg.env_scale, cfg.reward, cfg.task_decomposition, cfg.holdout, cfg.state) == \
        (1e-3, 0.5, "eq2", False, ["bear"], "q")
    paper = config_from_options({}, [], preset="paper")
    assert (paper.state, paper.action_space, paper.window_length, paper.rounds, paper.warm_start) == \
        ("paper", "all", 25, 6, False)
    with pytest.raises(AgentConfigError, match="unknown agent training option"):
        config_from_options({}, ["nope=1"])
    with pytest.raises(AgentConfigError, match="reward must be one of"):
        config_from_options({}, ["reward=eq9", "warm_start=false"])
    assert config_from_options({}, ["scribble_sets=[1, 2]", "warm_start=false"]).scribble_sets == [1, 2]
    with pytest.raises(AgentConfigError, match="scribble_sets"):
        config_from_options({}, ["scribble_sets=[]", "warm_start=false"])
    with pytest.raises(AgentConfigError, match="val_scribble_sets"):
        config_from_options({}, ["val_scribble_sets=[0]", "warm_start=false"])
    assert config_from_options({}, ["scribble_sets=[1, 2, 3]", "val_scribble_sets=[1]",
                                    "warm_start=false"]).val_scribble_sets == [1]


def test_shipped_weights_load():
    from ivosw_bench.agent.strategy import DEFAULT_WEIGHTS, AgentStrategy

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {DEFAULT_WEIGHTS}")
    strat = AgentStrategy()
    assert strat.weights_path == DEFAULT_WEIGHTS
    for n in (10, 82):
        assert 0 <= strat.recommend(_state(n, [3])) < n
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert "command" in meta and "config" in meta  # the record says how the weights were made


def test_wild_setting_default_weights(tmp_path, monkeypatch):
    from ivosw_bench.agent import strategy as mod

    if not mod.DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {mod.DEFAULT_WEIGHTS}")
    wild = tmp_path / "agent-classic-wild.pt"
    monkeypatch.setattr(mod, "DEFAULT_WILD_WEIGHTS", wild)
    assert mod.AgentStrategy(setting="wild").weights_path == mod.DEFAULT_WEIGHTS  # no wild file: the oracle one
    wild.write_bytes(mod.DEFAULT_WEIGHTS.read_bytes())
    assert mod.AgentStrategy(setting="wild").weights_path == wild
    assert mod.AgentStrategy(setting="oracle").weights_path == mod.DEFAULT_WEIGHTS
    assert mod.AgentStrategy(setting="wild", agent_weights=mod.DEFAULT_WEIGHTS).weights_path == mod.DEFAULT_WEIGHTS


def test_time_reversed_state():
    from ivosw_bench.agent.supervised import LAState, reversed_state

    st = LAState("s", 1, 2, 8, np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 0, 0, 0]), 0.5, np.array([0, 2]),
                 np.array([0.6, 0.7]), [[1, 2, 3, 4], [5, 6, 7, 8]], np.arange(16).reshape(4, 4), None)
    r = reversed_state(st)
    assert r.quality.tolist() == [0.4, 0.3, 0.2, 0.1] and r.history.tolist() == [0, 0, 0, 1]
    assert r.candidates.tolist() == [1, 3] and r.jf_next.tolist() == [0.7, 0.6]  # frame 2 -> 1, frame 0 -> 3
    assert r.q_next == [[8, 7, 6, 5], [4, 3, 2, 1]] and r.cues[0].tolist() == [12, 13, 14, 15]
    back = reversed_state(r)
    assert back.candidates.tolist() == [0, 2] and back.q_next == st.q_next


def test_agent_ensemble_cli_writes_weights_and_record(tmp_path):
    from conftest import invoke, one_line_error

    paths = []
    for seed in range(2):
        torch.manual_seed(seed)
        (tmp_path / f"s{seed}").mkdir()
        paths.append(tmp_path / f"s{seed}" / "agent.pt")
        save_weights(QNetwork(2, 8), paths[-1], {"state": "paper", "action_space": "all", "config": {"seed": seed}})
    (tmp_path / "s1" / "summary.json").write_text(json.dumps({"selected": {"val_round_auc": 43.0}, "wall_s": 5.0}))
    res = invoke("agent-ensemble", *paths, "--out", tmp_path / "ens.pt", "--note", "validation 44")
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "ens.json").read_text())
    assert record["note"] == "validation 44" and record["action_space"] == "all"
    assert [m["seed"] for m in record["members"]] == [0, 1]
    assert record["members"][1]["selected"]["val_round_auc"] == 43.0 and "selected" not in record["members"][0]
    one_line_error(invoke("agent-ensemble", paths[0], tmp_path / "missing.pt", "--out", tmp_path / "x.pt"),
                   "missing.pt")


def test_agent_splits_table_rows_accumulate(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("agent_splits", Path(__file__).parents[1] / "scripts" / "agent_splits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    f = tmp_path / "ablate.csv"
    mod._write_rows(f, [{"out": "r/base-seed0", "v": 1}, {"out": "r/base-seed1", "v": 2}])
    mod._write_rows(f, [{"out": "r/base-seed1", "v": 3}, {"out": "r/base-seed2", "v": 4}])  # later seeds add rows
    rows = list(csv.DictReader(f.open()))
    assert [(r["out"], r["v"]) for r in rows] == [("r/base-seed0", "1"), ("r/base-seed1", "3"), ("r/base-seed2", "4")]


def test_q_noise_is_smooth_clipped_and_reaches_the_warm_start(tiny_davis, lookahead_dir, tmp_path):
    from ivosw_bench.agent.supervised import noisy_q, smooth_noise
    from ivosw_bench.errors import AgentConfigError

    rng = np.random.default_rng(0)
    e = np.concatenate([smooth_noise(200, 0.2, 5.0, rng) for _ in range(50)])
    assert abs(e.std() - 0.2) < 0.02 and abs(e.mean()) < 0.03
    lag1 = np.corrcoef(e[:-1], e[1:])[0, 1]
    assert lag1 > 0.9  # correlated over frames, not white
    x = np.stack([np.linspace(0, 1, 40), np.ones(40)], 1).astype(np.float32)
    y = noisy_q(x, 0.5, 3.0, rng)
    assert y[:, 0].min() >= 0 and y[:, 0].max() <= 1 and np.array_equal(y[:, 1], x[:, 1])
    assert not np.allclose(y[:, 0], x[:, 0]) and np.array_equal(x[:, 0], np.linspace(0, 1, 40).astype(np.float32))
    with pytest.raises(AgentConfigError, match="q_noise must be"):
        _small_cfg(tiny_davis, lookahead_dir, q_noise=-0.1).check()
    with pytest.raises(AgentConfigError, match="state 'h' has none"):
        _small_cfg(tiny_davis, lookahead_dir, q_noise=0.1, state="h").check()
    # the warm start trains (and differs) with noise on
    runs = {}
    for sd in (0.0, 0.3):
        cfg = _small_cfg(tiny_davis, lookahead_dir, offline_epochs=0, total_steps=0, state="paper", q_noise=sd)
        runs[sd] = _Trainer(cfg, tmp_path / f"run{sd}", progress=False).run()
    assert runs[0.0]["warm_loss"] != runs[0.3]["warm_loss"]
