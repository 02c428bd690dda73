"""Leaderboards you can trust: runs grouped by (dataset, backend, setting, T), strategies ranked by
round-AUC within a group, every number with a 95% bootstrap CI over samples, and every strategy
compared with a reference on the same samples (paired difference, paired bootstrap CI, sign-flip
permutation p-value, wins / ties / losses).

Rules, each a one-line :class:`LeaderboardError` when broken:

- every run of a group covers the same samples (``intersect=True`` compares on the common samples
  instead and says which were dropped); a run that did not finish is refused unless intersecting;
- one T per (dataset, backend, setting) (``rounds=T`` picks one);
- a seed appears once per strategy: the same run given twice (same config and seed) is counted
  once with a warning; two different runs claiming the same strategy and seed are refused.

Roles: ``random, linspace, worst-oracle, worst-predicted`` are the non-learned baselines (the
default reference is the best of them in the group); ``greedy-oracle`` is the look-ahead ceiling
(shown, not ranked; with ``random`` present every strategy gets the share of the headroom it
captures, (S - random) / (greedy - random) on round-AUC); ``agent`` is learned; ``human:<name>``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import LeaderboardError
from .stats import (PairedResult, bootstrap_ci, bootstrap_indices, paired_comparison,
                    per_sample_values, percentile_interval)
from .time_auc import read_time_table, resample_weights, time_metrics

__all__ = ["LeaderboardError", "Estimate", "Entry", "BoardGroup", "Leaderboard", "build_leaderboard",
           "NON_LEARNED", "CEILING", "sample_name"]

NON_LEARNED = ("random", "linspace", "worst-oracle", "worst-predicted")
CEILING = "greedy-oracle"
LEARNED = ("agent",)
#: below this many samples a group carries a note that its bootstrap CIs are optimistic
SMALL_N = 10
#: summary metrics shown per strategy (round_auc in %, the others fractions)
METRICS = ("round_auc", "time_auc", "jf_at_60s", "final_jf")
#: config.json keys that are not part of what a run *is* (where and when it was made)
_NOT_CONFIG = ("run_id", "git_commit", "versions", "n_samples", "created", "started", "host")
#: config keys that tell two strategies of the same name apart (not seed, not sample selection)
_ENTRY_KEYS = ("strategy", "strategy_options", "backend_options", "quality_weights", "quality_tta",
               "strategy_provenance", "robot_seed")

Key = tuple[str, int]


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its CI (None where not available)."""

    mean: float | None
    low: float | None = None
    high: float | None = None


@dataclass
class Entry:
    """One strategy of a group: its runs (one per seed) and its statistics on the group's samples."""

    label: str
    strategy: str
    role: str
    runs: list[dict]
    rank: int | None = None
    metrics: dict[str, Estimate] = field(default_factory=dict)
    seed_std: float | None = None            # std over seeds of the run-level round-AUC (ddof=1)
    per_sample: dict[Key, float] = field(default_factory=dict)   # round-AUC, seeds averaged
    per_round: list[Estimate] = field(default_factory=list)      # J&F after round t (fractions)
    paired: PairedResult | None = None
    headroom: float | None = None            # share of (greedy - random) captured, fraction
    seconds_per_round: float | None = None

    @property
    def seeds(self) -> list:
        return [r["seed"] for r in self.runs]

    @property
    def is_ceiling(self) -> bool:
        return self.role == "ceiling"


@dataclass
class BoardGroup:
    """Runs of one (dataset, backend, setting, T): entries ranked (ceiling first, unranked)."""

    dataset: str
    backend: str
    setting: str
    rounds: int
    samples: list[Key]
    entries: list[Entry]
    dropped: list[Key] = field(default_factory=list)
    reference: Entry | None = None
    reference_why: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.backend} on {self.dataset}, {self.setting} setting, T={self.rounds}"

    @property
    def slug(self) -> str:
        return f"{self.dataset}_{self.backend}_{self.setting}_T{self.rounds}"

    @property
    def ranked(self) -> list[Entry]:
        return [e for e in self.entries if e.rank is not None]


@dataclass
class Leaderboard:
    groups: list[BoardGroup]
    warnings: list[str]
    n_boot: int
    seed: int
    level: float


def sample_name(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


def _names(keys: Sequence[Key], limit: int = 8) -> str:
    names = [sample_name(k) for k in keys]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def role_of(strategy: str) -> str:
    if strategy == CEILING:
        return "ceiling"
    if strategy in NON_LEARNED:
        return "baseline"
    if strategy in LEARNED:
        return "learned"
    if strategy.partition(":")[0] == "human":
        return "human"
    return "other"


# --------------------------------------------------------------------------------------
# checks on the runs given


def _fingerprint(run: dict) -> str:
    """What a run is (config and seed), as text: equal for the same run given twice."""
    config = run.get("config")
    if config:
        what = {k: v for k, v in config.items() if k not in _NOT_CONFIG}
    else:
        what = {k: run[k] for k in ("strategy", "backend", "dataset", "setting", "rounds", "seed")}
    return json.dumps(what, sort_keys=True, default=str)


def _entry_key(run: dict) -> str:
    config = run.get("config") or {}
    entry = {k: config.get(k) for k in _ENTRY_KEYS} | {"strategy": run["strategy"]}
    entry["quality_tta"] = bool(entry["quality_tta"])  # runs written before these keys had none
    entry["strategy_provenance"] = entry["strategy_provenance"] or {}  # e.g. the agent's weights digest
    return json.dumps(entry,
                      sort_keys=True, default=str)


def _dedupe(runs: list[dict], warnings: list[str]) -> list[dict]:
    seen: dict[str, dict] = {}
    out = []
    for run in runs:
        fp = _fingerprint(run)
        if fp in seen:
            first = seen[fp]
            how = ("given twice" if first["path"].resolve() == run["path"].resolve()
                   else f"the same config and seed as {first['path']}")
            warnings.append(f"{run['path']}: {how}; counted once")
            continue
        seen[fp] = run
        out.append(run)
    return out


def _check_finished(runs: list[dict], intersect: bool) -> None:
    if intersect:
        return
    for run in runs:
        if not run.get("complete", True):
            total = run.get("n_samples_total")
            done = f" ({len(run['per_sample'])}/{total} samples)" if isinstance(total, int) else ""
            raise LeaderboardError(f"{run['path']}: unfinished run{done}; finish it with --resume, "
                                   f"or pass --intersect to compare on the samples every run finished")


def _check_one_t(runs: list[dict]) -> None:
    by_setup: dict[tuple, dict[int, dict]] = {}
    for run in runs:
        by_setup.setdefault((run["dataset"], run["backend"], run["setting"]), {}).setdefault(run["rounds"], run)
    for (dataset, backend, setting), by_t in sorted(by_setup.items()):
        if len(by_t) > 1:
            ts = sorted(by_t)
            raise LeaderboardError(
                f"mixed T for {backend} on {dataset} ({setting}): {by_t[ts[0]]['path']} has T={ts[0]}, "
                f"{by_t[ts[1]]['path']} has T={ts[1]}; pass runs of one T or choose one with --rounds")


def _run_keys(run: dict) -> set[Key]:
    return {(str(s["sequence"]), int(s["scribble_idx"])) for s in run["per_sample"]}


def _common_samples(runs: list[dict], intersect: bool, where: str) -> tuple[list[Key], list[Key]]:
    """(samples every run covers, samples dropped); refuses differing sample sets unless intersecting."""
    sets = [(_run_keys(r), r) for r in runs]
    union = set().union(*(s for s, _ in sets))
    common = set.intersection(*(s for s, _ in sets))
    if common != union and not intersect:
        keys, run = next((s, r) for s, r in sets if s != union)
        raise LeaderboardError(
            f"{run['path']} lacks sample(s) {_names(sorted(union - keys))} that other runs of {where} "
            f"cover; pass --intersect to compare on the {len(common)} common sample(s)")
    if not common:
        raise LeaderboardError(f"{where}: no sample is covered by every run")
    return sorted(common), sorted(union - common)


# --------------------------------------------------------------------------------------
# statistics of one entry


def _seed_order(run: dict) -> tuple:
    return (run["seed"] is None, run["seed"] if run["seed"] is not None else 0, str(run["run_id"]))


def _entries(runs: list[dict]) -> list[Entry]:
    buckets: dict[str, list[dict]] = {}
    for run in runs:
        buckets.setdefault(_entry_key(run), []).append(run)
    names = [b[0]["strategy"] for b in buckets.values()]
    entries = []
    for members in buckets.values():
        members.sort(key=_seed_order)
        for a, b in zip(members, members[1:]):
            if a["seed"] == b["seed"]:
                raise LeaderboardError(f"{a['path']} and {b['path']}: same strategy and seed but a different "
                                       f"run (samples or options); a leaderboard takes one run per seed")
        first = members[0]
        label = first["strategy"] if names.count(first["strategy"]) == 1 else f"{first['strategy']} [{first['run_id']}]"
        entries.append(Entry(label=label, strategy=first["strategy"], role=role_of(first["strategy"]),
                             runs=members))
    return entries


def _values(runs: list[dict], metric: str, keys: list[Key]) -> np.ndarray:
    """Per-sample ``metric`` (seeds averaged) in ``keys`` order."""
    values = per_sample_values(runs, metric)
    missing = [k for k in keys if k not in values]
    if missing:
        raise LeaderboardError(f"{runs[0]['path']}: no {metric} for sample(s) {_names(missing)}")
    return np.array([values[k] for k in keys])


def _time_estimates(entry: Entry, keys: list[Key], dropped: bool, n_boot: int, seed: int,
                    level: float) -> dict[str, Estimate]:
    """time-AUC and J&F@60s of davisinteractive: bootstrapped from report.csv when every run has
    one; else the summaries' means without CI (or nothing when samples were dropped)."""
    tables = [read_time_table(r["path"], r["rounds"], keys) for r in entry.runs]
    if any(t is None for t in tables):
        if dropped:
            return {"time_auc": Estimate(None), "jf_at_60s": Estimate(None)}
        return {m: Estimate(_mean([_num(r["metrics"].get(m)) for r in entry.runs])) for m in ("time_auc", "jf_at_60s")}
    weights = resample_weights(bootstrap_indices(len(keys), n_boot, seed), len(keys))
    ones = np.ones((1, len(keys)))
    point = np.mean([np.concatenate(time_metrics(t, ones)) for t in tables], axis=0)
    auc_b, jf_b = np.mean([time_metrics(t, weights) for t in tables], axis=0)  # seeds averaged
    return {"time_auc": Estimate(float(point[0]), *percentile_interval(auc_b, level)),
            "jf_at_60s": Estimate(float(point[1]), *percentile_interval(jf_b, level))}


def _num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return math.fsum(vals) / len(vals) if vals else None


def _seed_std(entry: Entry, keys: list[Key]) -> float | None:
    if len(entry.runs) < 2:
        return None
    aucs = [np.mean(_values([r], "round_auc", keys)) for r in entry.runs]
    return float(np.std(aucs, ddof=1))


def _fill(entry: Entry, keys: list[Key], rounds: int, dropped: bool, n_boot: int, seed: int,
          level: float) -> None:
    auc = _values(entry.runs, "round_auc", keys)
    entry.per_sample = dict(zip(keys, auc.tolist()))
    entry.metrics["round_auc"] = Estimate(*bootstrap_ci(auc, n_boot, seed, level))
    entry.metrics["final_jf"] = Estimate(*bootstrap_ci(_values(entry.runs, "final_jf", keys), n_boot, seed, level))
    entry.metrics.update(_time_estimates(entry, keys, dropped, n_boot, seed, level))
    entry.per_round = [Estimate(*bootstrap_ci(_values(entry.runs, f"jf_round{t}", keys), n_boot, seed, level))
                       for t in range(1, rounds + 1)]
    entry.seed_std = _seed_std(entry, keys)
    entry.seconds_per_round = _mean([_num((r["metrics"].get("seconds_per_round") or {}).get("total"))
                                     for r in entry.runs])


# --------------------------------------------------------------------------------------
# a group


def _rank(entries: list[Entry]) -> list[Entry]:
    def auc(e: Entry) -> float:
        return e.metrics["round_auc"].mean

    ceiling = sorted((e for e in entries if e.is_ceiling), key=lambda e: (-auc(e), e.label))
    ranked = sorted((e for e in entries if not e.is_ceiling), key=lambda e: (-auc(e), e.label))
    for i, e in enumerate(ranked, 1):
        e.rank = i
    return ceiling + ranked


def _reference(group: BoardGroup, name: str | None) -> Entry | None:
    if name is not None:
        found = [e for e in group.entries if name in (e.label, e.strategy)]
        if len(found) != 1:
            known = ", ".join(e.label for e in group.entries)
            what = "is not" if not found else "is ambiguous"
            raise LeaderboardError(f"--reference {name} {what} in {group.title} (strategies: {known})")
        return found[0]
    if len(group.entries) < 2:
        return None  # nothing to compare with
    baselines = [e for e in group.ranked if e.role == "baseline"]
    return baselines[0] if baselines else None


def _pair(group: BoardGroup, n_boot: int, seed: int, level: float) -> None:
    ref = group.reference
    if ref is None:
        if len(group.entries) > 1:
            group.notes.append("no non-learned baseline in this group: no paired comparison "
                               "(choose a reference with --reference)")
        return
    b = np.array([ref.per_sample[k] for k in group.samples])
    for e in group.entries:
        if e is not ref:
            a = np.array([e.per_sample[k] for k in group.samples])
            e.paired = paired_comparison(a, b, n_boot=n_boot, n_perm=n_boot, seed=seed, level=level)


def _headroom(group: BoardGroup) -> None:
    randoms = [e for e in group.entries if e.strategy == "random"]
    ceilings = [e for e in group.entries if e.is_ceiling]
    if len(randoms) != 1 or len(ceilings) != 1:
        return
    r, g = randoms[0].metrics["round_auc"].mean, ceilings[0].metrics["round_auc"].mean
    if g - r <= 0:
        group.notes.append(f"the ceiling ({g:.2f}) does not exceed random ({r:.2f}): no headroom shares")
        return
    for e in group.entries:
        e.headroom = (e.metrics["round_auc"].mean - r) / (g - r)


def _build_group(runs: list[dict], reference: str | None, intersect: bool, n_boot: int, seed: int,
                 level: float) -> BoardGroup:
    r0 = runs[0]
    where = f"{r0['backend']} on {r0['dataset']}, {r0['setting']} setting, T={r0['rounds']}"
    keys, dropped = _common_samples(runs, intersect, where)
    entries = _entries(runs)
    for e in entries:
        _fill(e, keys, r0["rounds"], bool(dropped), n_boot, seed, level)
    group = BoardGroup(dataset=r0["dataset"], backend=r0["backend"], setting=r0["setting"],
                       rounds=r0["rounds"], samples=keys, entries=_rank(entries), dropped=dropped)
    if len(keys) < SMALL_N:
        group.notes.append(f"only {len(keys)} samples: percentile bootstrap CIs are too narrow with so few "
                           f"samples (they undercover); the exact permutation p-value is the safer guide")
    group.reference = _reference(group, reference)
    group.reference_why = "chosen with --reference" if reference else "best non-learned baseline"
    _pair(group, n_boot, seed, level)
    _headroom(group)
    return group


def build_leaderboard(runs: Sequence[dict], reference: str | None = None, intersect: bool = False,
                      rounds: int | None = None, n_boot: int = 10000, seed: int = 0,
                      level: float = 0.95) -> Leaderboard:
    """The leaderboard of loaded runs (:func:`ivosw_bench.results.report.load_runs`).

    ``reference``: strategy (or label) every other strategy is compared with (default: the best
    non-learned baseline of each group). ``intersect``: compare on the samples every run of a group
    covers (else differing sample sets are refused). ``rounds``: keep only runs with this T.
    Resampling uses ``n_boot`` draws from ``seed``; ``level`` is the CI level.
    """
    warnings: list[str] = []
    runs = list(runs)
    if rounds is not None:
        runs = [r for r in runs if r["rounds"] == rounds]
        if not runs:
            raise LeaderboardError(f"--rounds {rounds}: no run has T={rounds}")
    if not runs:
        raise LeaderboardError("no runs to put on a leaderboard")
    if n_boot < 1:
        raise LeaderboardError(f"--n-boot must be >= 1, got {n_boot}")
    runs = _dedupe(runs, warnings)
    _check_finished(runs, intersect)
    _check_one_t(runs)
    by_group: dict[tuple, list[dict]] = {}
    for run in runs:
        by_group.setdefault((run["dataset"], run["backend"], run["setting"], run["rounds"]), []).append(run)
    groups = [_build_group(members, reference, intersect, n_boot, seed, level)
              for _, members in sorted(by_group.items())]
    for g in groups:
        if g.dropped:
            warnings.append(f"{g.title}: compared on {len(g.samples)} common sample(s); dropped "
                            f"{len(g.dropped)} not covered by every run ({_names(g.dropped)})")
    return Leaderboard(groups=groups, warnings=warnings, n_boot=n_boot, seed=seed, level=level)
