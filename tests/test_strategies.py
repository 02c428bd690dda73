"""Baseline strategies: seeded random with repeats, linspace without repeats, worst excludes annotated."""
from __future__ import annotations

import numpy as np
import pytest

from ivosw_bench.registry import make_strategy
from ivosw_bench.strategies.base import RoundState, SampleInfo


def state(t, n, quality=None, annotated=(0,)):
    h = np.zeros(n, np.int64)
    for a in annotated:
        h[a] += 1
    q = np.linspace(0.9, 0.1, n) if quality is None else np.asarray(quality, float)
    return RoundState(t=t, n_frames=n, quality=q, history=h, annotated=list(annotated))


def sample(seq="s", idx=1, n=10):
    return SampleInfo(seq, idx, n, 1, 0)


def test_random_is_seeded_per_sample_and_may_repeat():
    def picks(seed, seq="s"):
        s = make_strategy("random", seed=seed)
        s.reset(sample(seq, n=5))
        return [s.recommend(state(t, 5)) for t in range(1, 40)]

    assert picks(0) == picks(0)
    assert picks(0) != picks(1)
    assert picks(0, "a") != picks(0, "b")
    assert len(set(picks(0))) < len(picks(0))  # repeats allowed
    assert all(0 <= p < 5 for p in picks(3))


def test_linspace_evenly_spaced_without_repeats():
    s = make_strategy("linspace", rounds=4)
    s.reset(sample(n=20))
    annotated = [5]
    for t in range(1, 5):
        f = s.recommend(state(t, 20, annotated=annotated))
        assert f not in annotated
        annotated.append(f)
    assert annotated == [5, 10, 15, 0, 6]  # 5 + 20*t/4 mod 20; 5 taken -> nearest free (6)


def test_worst_oracle_excludes_annotated():
    s = make_strategy("worst-oracle")
    s.reset(sample(n=6))
    q = [0.5, 0.1, 0.9, 0.2, 0.8, 0.7]
    assert s.recommend(state(1, 6, q, annotated=[0])) == 1
    assert s.recommend(state(2, 6, q, annotated=[0, 1])) == 3
    # every frame annotated: falls back to all frames
    assert s.recommend(state(3, 6, q, annotated=list(range(6)))) == 1


@pytest.mark.parametrize("name", ["random", "linspace", "worst-oracle"])
def test_recommendation_in_range(name):
    s = make_strategy(name, rounds=8)
    s.reset(sample(n=7))
    for t in range(1, 9):
        assert 0 <= s.recommend(state(t, 7, annotated=[3])) < 7
