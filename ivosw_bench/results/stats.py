"""Statistics for comparing strategies on the same samples: percentile bootstrap confidence
intervals over samples, paired differences with a paired bootstrap CI, a paired sign-flip
permutation p-value, and wins / ties / losses.

The unit of resampling is the *sample* (a video with one scribble file). A stochastic strategy run
with several seeds is first averaged over its seeds within each sample (:func:`per_sample_values`),
so seeds narrow a sample's value instead of counting as extra samples.

Everything random is drawn from ``numpy.random.default_rng(seed)`` with an integer seed, so the same
inputs give the same numbers, byte for byte:

- bootstrap: ``rng.integers(0, n, size=(n_boot, n))`` resample indices (:func:`bootstrap_indices`),
  the statistic on every resample, then the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
  (numpy's default linear interpolation);
- permutation: all ``2**n`` sign vectors when ``2**n <= n_perm`` (exact p-value), else ``n_perm``
  draws of ``rng.choice([-1, 1], size=(n_perm, n))`` with p = (1 + hits) / (1 + n_perm).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["PairedResult", "bootstrap_indices", "bootstrap_ci", "percentile_interval",
           "sign_flip_p_value", "paired_comparison", "per_sample_values", "sample_metric"]

#: relative slack when comparing a permuted mean with the observed one (float round-off)
_REL_TOL = 1e-9


@dataclass(frozen=True)
class PairedResult:
    """Strategy ``a`` against reference ``b`` over the same samples; difference = a - b."""

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    wins: int
    ties: int
    losses: int
    n: int


def _as_vector(values: Iterable[float], name: str = "values") -> np.ndarray:
    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-d sequence of numbers, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return x


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def bootstrap_indices(n: int, n_boot: int = 10000, seed: int = 0) -> np.ndarray:
    """Resample indices ``[n_boot, n]`` (with replacement), the same for the same (n, n_boot, seed)."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"need n >= 1 and n_boot >= 1, got n={n}, n_boot={n_boot}")
    return np.random.default_rng(int(seed)).integers(0, n, size=(int(n_boot), int(n)))


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap replicates (percentile method)."""
    _check_level(level)
    lo, hi = np.quantile(np.asarray(replicates, np.float64), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(values: Sequence[float], n_boot: int = 10000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its percentile-bootstrap ``level`` CI over
    the entries (each entry is one sample)."""
    x = _as_vector(values)
    _check_level(level)
    means = x[bootstrap_indices(x.size, n_boot, seed)].mean(axis=1)
    lo, hi = percentile_interval(means, level)
    return float(x.mean()), min(lo, hi), max(lo, hi)


def _sign_vectors(n: int, n_perm: int, seed: int) -> tuple[np.ndarray, bool]:
    """(signs [m, n], exact): every sign vector when 2**n <= n_perm, else n_perm random ones."""
    if n < 63 and 2 ** n <= n_perm:
        codes = np.arange(2 ** n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)[None, :]
        return 1.0 - 2.0 * (codes & 1), True
    rng = np.random.default_rng(int(seed))
    return rng.choice(np.array([-1.0, 1.0]), size=(int(n_perm), n)), False


def sign_flip_p_value(diffs: Sequence[float], n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided paired permutation p-value of H0 "the differences are symmetric about 0": the
    share of sign flips whose |mean| reaches the observed |mean| (exact enumeration when
    ``2**n <= n_perm``; else Monte Carlo, counting the observed one)."""
    d = _as_vector(diffs, "diffs")
    if n_perm < 1:
        raise ValueError(f"n_perm must be >= 1, got {n_perm}")
    observed = abs(float(d.mean()))
    slack = _REL_TOL * max(1.0, float(np.abs(d).max()))
    signs, exact = _sign_vectors(d.size, n_perm, seed)
    hits = int(np.count_nonzero(np.abs(signs @ d / d.size) >= observed - slack))
    if exact:
        return hits / signs.shape[0]
    return (hits + 1) / (signs.shape[0] + 1)


def paired_comparison(a: Sequence[float], b: Sequence[float], n_boot: int = 10000, n_perm: int = 10000,
                      seed: int = 0, level: float = 0.95, tie_tol: float = 1e-9) -> PairedResult:
    """``a`` against ``b``, equal-length per-sample values in the same sample order: the mean
    difference a - b, its paired bootstrap CI (samples resampled, pairs kept together), the
    two-sided sign-flip permutation p-value, and wins / ties / losses (|a - b| <= tie_tol is a tie)."""
    x, y = _as_vector(a, "a"), _as_vector(b, "b")
    if x.size != y.size:
        raise ValueError(f"a and b must have the same length, got {x.size} and {y.size}")
    d = x - y
    mean, lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed, level=level)
    return PairedResult(
        mean_diff=mean, ci_low=lo, ci_high=hi, p_value=sign_flip_p_value(d, n_perm=n_perm, seed=seed),
        wins=int(np.count_nonzero(d > tie_tol)), ties=int(np.count_nonzero(np.abs(d) <= tie_tol)),
        losses=int(np.count_nonzero(d < -tie_tol)), n=int(d.size))


def sample_metric(sample: Mapping, metric: str) -> float | None:
    """One per-sample value of a ``summary.json`` ``per_sample`` entry: a numeric key
    (``round_auc`` in %, ``final_jf`` a fraction) or ``jf_round<t>`` (J&F after round t, 1-based).
    None when absent or not finite."""
    if metric.startswith("jf_round"):
        try:
            t = int(metric[len("jf_round"):])
        except ValueError:
            raise ValueError(f"unknown per-sample metric {metric!r}") from None
        curve = sample.get("per_round_jf") or []
        value = curve[t - 1] if 1 <= t <= len(curve) else None
    else:
        value = sample.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def per_sample_values(runs: Iterable[Mapping], metric: str = "round_auc") -> dict[tuple[str, int], float]:
    """``{(sequence, scribble_idx): value}`` for the loaded runs of one strategy (one per seed):
    each sample's value is the mean over the runs (seeds) that finished it. Keys are sorted."""
    sums: dict[tuple[str, int], list[float]] = {}
    for run in runs:
        for sample in run.get("per_sample") or []:
            value = sample_metric(sample, metric)
            if value is not None:
                key = (str(sample["sequence"]), int(sample["scribble_idx"]))
                sums.setdefault(key, []).append(value)
    return {k: math.fsum(v) / len(v) for k, v in sorted(sums.items())}
