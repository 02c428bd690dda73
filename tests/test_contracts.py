"""The declared contracts, checked on every registered backend and strategy (installed plug-ins
included), and the typed registry."""
from __future__ import annotations

import json
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from backends.base import Backend, validate_prediction
from ivosw_bench import registry
from ivosw_bench.errors import RegistryError
from ivosw_bench.strategies.base import RoundState, SampleInfo, Strategy

from conftest import write_sequence

BACKENDS = registry.backend_names()
STRATEGIES = registry.strategy_names()


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory):
    from ivosw_bench.data.davis_layout import open_dataset

    root = tmp_path_factory.mktemp("contract")
    write_sequence(root, "two", n_objects=2, n_frames=7, scribble_frame=3)
    ds = open_dataset(root)
    scribble = json.loads((root / "Scribbles/two/001.json").read_text())
    return ds.frames("two"), ds.masks("two"), scribble


def test_the_fake_backend_is_registered():
    assert "fake" in BACKENDS and "classic" in BACKENDS


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_contract(name, tiny_sample):
    cls = registry.backend_class(name)
    assert issubclass(cls, Backend) and isinstance(cls.description, str) and cls.description
    missing = cls.availability()
    if missing:
        pytest.skip(f"backend '{name}' not usable here: {missing}")
    frames, gt, scribble = tiny_sample
    be = registry.make_backend(name)
    try:
        be.reset("two", frames, 2)
        pred = validate_prediction(be.interact(scribble, 3), 7, frames.shape[1], frames.shape[2], 2, name)
        assert pred.labels.min() >= 0 and pred.labels.max() <= 2
        if pred.has_probs:
            assert pred.probs.shape == (3, 7) + frames.shape[1:3]
        if cls.supports_snapshot:  # restore -> the same answer as without the detour
            from ivosw_bench.episode import make_robot, robot_scribble

            second = robot_scribble(make_robot(), "two", pred.labels, gt, 2, 6)
            state = be.snapshot()
            direct = np.asarray(be.interact(second, 6).labels)
            be.restore(state)
            be.interact(robot_scribble(make_robot(), "two", pred.labels, gt, 2, 0), 0)
            be.restore(state)
            np.testing.assert_array_equal(np.asarray(be.interact(second, 6).labels), direct)
    finally:
        be.close()


def _state(n=9, t=2):
    h = np.zeros(n, np.int64)
    h[[2, 5]] = 1
    return RoundState(t=t, n_frames=n, quality=np.linspace(0.9, 0.2, n), history=h, annotated=[2, 5],
                      rounds=8, frames=lambda: np.zeros((n, 8, 8, 3), np.uint8), prediction=lambda: None,
                      lookahead=lambda frames: np.asarray([0.5 + 0.01 * f for f in frames], float))


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_contract(name):
    cls = registry.strategy_class(name)
    assert issubclass(cls, Strategy) and cls.description
    assert isinstance(cls.needs_oracle, bool) and isinstance(cls.stochastic, bool)
    assert cls.name_argument is None or cls.name_argument in registry.strategy_options(cls)
    if cls.name_argument is not None:
        pytest.skip(f"'{name}' needs a person (tested in test_study)")
    s = registry.make_strategy(name, seed=3, rounds=8)
    try:
        s.reset(SampleInfo("seq", 1, 9, 1, 3))
        for t in (1, 2, 7):
            f = s.recommend(_state(t=t))
            assert isinstance(f, (int, np.integer)) and 0 <= f < 9
    finally:
        s.close()


def test_registry_suggests_the_nearest_name():
    with pytest.raises(RegistryError, match="unknown strategy 'linspce'; did you mean 'linspace'"):
        registry.strategy_class("linspce")
    with pytest.raises(RegistryError, match="unknown backend 'clasic'; did you mean 'classic'"):
        registry.backend_class("clasic")


def test_registry_refuses_an_option_the_strategy_does_not_take():
    with pytest.raises(RegistryError, match="strategy 'random' takes no option 'agent_weights'"):
        registry.make_strategy("random", agent_weights="x.pt")
    with pytest.raises(RegistryError, match="takes no ':<argument>'"):
        registry.make_strategy("random:x")


def test_registry_refuses_a_plugin_of_the_wrong_kind(monkeypatch):
    fake = EntryPoint(name="notastrategy", value="ivosw_bench.episode:Outcome", group=registry.STRATEGY_GROUP)
    real = registry.entry_points

    def eps(group):
        return list(real(group=group)) + ([fake] if group == registry.STRATEGY_GROUP else [])

    monkeypatch.setattr(registry, "entry_points", eps)
    with pytest.raises(RegistryError, match="is not a subclass of ivosw_bench.strategies.base.Strategy"):
        registry.strategy_class("notastrategy")
