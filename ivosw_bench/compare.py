"""Run several strategies on the same backend and data, then one table and one plot."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .errors import RunError
from .registry import strategy_class, strategy_options
from .session import RunConfig, run_all


def expand(strategies: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """(strategy, seed) pairs: stochastic strategies once per seed, the others once (first seed)."""
    pairs = []
    for name in strategies:
        stochastic = strategy_class(name).stochastic
        pairs += [(name, s) for s in (seeds if stochastic else seeds[:1])]
    return pairs


def _options_for(name: str, options: dict) -> dict:
    """The subset of ``options`` that strategy ``name`` takes (e.g. agent_weights only for the agent)."""
    takes = set(strategy_options(strategy_class(name)))
    return {k: v for k, v in options.items() if k in takes}


def compare(base: RunConfig, strategies: list[str], seeds: list[int], report_dir: Path | None = None,
            progress=None, title: str | None = None, jobs: int | None = None, executor: str = "local",
            ray_address: str | None = None, log=None) -> tuple[list[Path], dict, list[dict]]:
    """Run every (strategy, seed) (resuming finished runs when ``base.resume``) and write a report.

    The runs' samples are played in parallel (``jobs`` local processes, default the machine's cores,
    or a Ray cluster); each run folder equals the one a serial run writes (timing columns excepted).
    Returns (run folders, report files, loaded runs).
    """
    from .results.report import load_run, write_report

    pairs = expand(strategies, seeds)
    for name, _ in pairs:  # fail fast on an unknown strategy before hours of running
        if name.partition(":")[0] == "human":
            raise RunError("compare runs strategies unattended; run humans with 'ivosw-bench study' "
                           "and put them beside strategies with 'ivosw-bench leaderboard'")
    options = {name: _options_for(name, base.strategy_options) for name in strategies}
    taken = set().union(*options.values()) if options else set()
    unused = sorted(set(base.strategy_options) - taken)
    if unused:
        raise RunError(f"none of the strategies {', '.join(strategies)} takes the option(s) {', '.join(unused)}")
    cfgs = [dataclasses.replace(base, strategy=name, seed=seed, name=None, strategy_options=options[name])
            for name, seed in pairs]
    paths = [path for path, _ in run_all(cfgs, progress=progress, log=log, jobs=jobs, executor=executor,
                                         ray_address=ray_address)]
    runs = [load_run(p) for p in paths]
    first = runs[0]
    report_dir = Path(report_dir or Path(base.out) /
                      f"compare_{first['dataset']}_{first['backend']}_{first['setting']}_T{first['rounds']}")
    title = title or (f"{first['backend']} on {first['dataset']} ({first['setting']} setting, "
                      f"{first['rounds']} rounds)")
    files = write_report(runs, report_dir, title=title)
    return paths, files, runs
