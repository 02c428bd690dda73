"""ivosw_bench.results.stats against cases whose answers are known by hand."""
from __future__ import annotations

import numpy as np
import pytest

from ivosw_bench.results.stats import (PairedResult, bootstrap_ci, bootstrap_indices, paired_comparison,
                                       per_sample_values, sign_flip_p_value)


def test_bootstrap_by_hand():
    """values [1, 2, 4], 5 resamples from seed 0: the index draws below, so the resample means are
    8/3, 1, 1, 10/3, 8/3; sorted 1, 1, 8/3, 8/3, 10/3. numpy's linear quantiles: 2.5% at position
    0.1 -> 1.0; 97.5% at position 3.9 -> 8/3 + 0.9 * (10/3 - 8/3) = 3.2667."""
    idx = bootstrap_indices(3, n_boot=5, seed=0)
    assert idx.tolist() == [[2, 1, 1], [0, 0, 0], [0, 0, 0], [2, 1, 2], [1, 1, 2]]
    mean, lo, hi = bootstrap_ci([1.0, 2.0, 4.0], n_boot=5, seed=0)
    assert mean == pytest.approx(7 / 3)
    assert lo == pytest.approx(1.0)
    assert hi == pytest.approx(8 / 3 + 0.9 * (2 / 3))


def test_bootstrap_reproducible_and_seeded():
    x = np.linspace(0.0, 10.0, 12) ** 1.5
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(list(x), seed=3)
    assert bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)
    mean, lo, hi = bootstrap_ci(x)
    assert lo < mean < hi and mean == pytest.approx(x.mean())


def test_bootstrap_level_widens_interval():
    x = np.arange(20.0) ** 1.2
    _, lo90, hi90 = bootstrap_ci(x, level=0.90)
    _, lo99, hi99 = bootstrap_ci(x, level=0.99)
    assert lo99 < lo90 and hi99 > hi90


def test_bootstrap_single_value_and_constant():
    assert bootstrap_ci([5.0]) == (5.0, 5.0, 5.0)
    assert bootstrap_ci([2.5] * 7) == (2.5, 2.5, 2.5)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [[1.0, 2.0]]])
def test_bootstrap_refuses_bad_input(bad):
    with pytest.raises(ValueError):
        bootstrap_ci(bad)


def test_constant_difference():
    """a = b + 1.5 on 6 samples: difference 1.5 with a zero-width CI; only the all-plus and all-minus
    of the 2^6 sign flips reach |mean| = 1.5, so p = 2/64 exactly; 6 wins."""
    b = np.array([40.0, 52.0, 61.5, 70.0, 33.0, 58.0])
    r = paired_comparison(b + 1.5, b)
    assert isinstance(r, PairedResult)
    assert r.mean_diff == pytest.approx(1.5)
    assert r.ci_low == pytest.approx(1.5) and r.ci_high == pytest.approx(1.5)
    assert r.p_value == pytest.approx(2 / 64)
    assert (r.wins, r.ties, r.losses, r.n) == (6, 0, 0, 6)
    flipped = paired_comparison(b, b + 1.5)
    assert flipped.mean_diff == pytest.approx(-1.5) and flipped.p_value == r.p_value
    assert (flipped.wins, flipped.losses) == (0, 6)


def test_symmetric_null():
    """Differences +-1, +-2, +-3: the observed mean is 0, every sign flip reaches it: p = 1; the CI
    straddles 0; 3 wins, 3 losses."""
    b = np.full(6, 50.0)
    a = b + np.array([1.0, -1.0, 2.0, -2.0, 3.0, -3.0])
    r = paired_comparison(a, b)
    assert r.mean_diff == pytest.approx(0.0)
    assert r.p_value == 1.0
    assert r.ci_low < 0 < r.ci_high
    assert (r.wins, r.ties, r.losses) == (3, 0, 3)


def test_exact_p_value_by_hand():
    """Differences 1, 2, 3: sums over the 8 sign vectors are +-6, +-4, +-2, 0, 0; |sum| >= 6 for 2
    of them: p = 0.25."""
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(0.25)


def test_monte_carlo_p_value_when_enumeration_is_too_big():
    """20 samples, constant difference: no random flip of 2^20 reaches it (except by a 2^-19
    chance), so p = 1 / (n_perm + 1)."""
    r = paired_comparison(np.arange(20.0) + 2.0, np.arange(20.0), n_perm=999, n_boot=500, seed=1)
    assert r.p_value == pytest.approx(1 / 1000)
    assert r.n == 20


def test_ties_within_tolerance():
    a = [1.0, 2.0 + 1e-12, 3.0, 4.0]
    b = [1.0, 2.0, 2.0, 5.0]
    r = paired_comparison(a, b)
    assert (r.wins, r.ties, r.losses) == (1, 2, 1)
    r = paired_comparison(a, b, tie_tol=2.0)
    assert (r.wins, r.ties, r.losses) == (0, 4, 0)


def test_paired_refuses_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        paired_comparison([1.0, 2.0], [1.0])


def test_per_sample_values_average_seeds_within_a_sample():
    def run(seed, values):
        return {"seed": seed, "per_sample": [
            {"sequence": s, "scribble_idx": i, "round_auc": v, "final_jf": v / 100,
             "per_round_jf": [v / 200, v / 100]} for (s, i), v in values.items()]}

    runs = [run(0, {("b", 1): 60.0, ("a", 2): 40.0}), run(1, {("b", 1): 64.0, ("a", 2): 50.0}),
            run(2, {("b", 1): 62.0, ("a", 2): 45.0})]
    got = per_sample_values(runs)
    assert list(got) == [("a", 2), ("b", 1)]
    assert got[("a", 2)] == pytest.approx(45.0) and got[("b", 1)] == pytest.approx(62.0)
    assert per_sample_values(runs, "final_jf")[("b", 1)] == pytest.approx(0.62)
    assert per_sample_values(runs, "jf_round1")[("a", 2)] == pytest.approx(0.225)
    assert per_sample_values(runs, "jf_round3") == {}
    with pytest.raises(ValueError):
        per_sample_values(runs, "jf_roundx")
