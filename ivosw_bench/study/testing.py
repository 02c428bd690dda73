"""Test helpers: make ``human:<participant>`` resolvable before the entry point is registered.

``patch_registry(monkeypatch)`` replaces the ``strategy_class`` / ``make_strategy`` names that
``ivosw_bench.session`` and ``ivosw_bench.compare`` imported from the registry with versions that
map ``human`` / ``human:<p>`` to :class:`HumanStrategy` (``participant=<p>``) and delegate every
other name to the real registry. Once setup.cfg registers ``human`` and the registry splits
``name:argument`` it is no longer needed (it stays harmless).
"""
from __future__ import annotations

from .strategy import HumanStrategy


def _split(name: str):
    base, sep, arg = name.partition(":")
    return base, (arg if sep else None)


def patch_registry(monkeypatch) -> None:
    import ivosw_bench.compare as compare_mod
    import ivosw_bench.registry as registry
    import ivosw_bench.session as session

    real_class, real_make = registry.strategy_class, registry.make_strategy

    def strategy_class(name: str):
        base, _ = _split(name)
        return HumanStrategy if base == HumanStrategy.name else real_class(name)

    def make_strategy(name: str, seed: int = 0, **options):
        base, arg = _split(name)
        if base != HumanStrategy.name:
            return real_make(name, seed=seed, **options)
        if arg is not None:
            options[HumanStrategy.name_argument] = arg
        return HumanStrategy(seed=seed, **options)

    for mod in (registry, session):
        monkeypatch.setattr(mod, "strategy_class", strategy_class)
        monkeypatch.setattr(mod, "make_strategy", make_strategy)
    monkeypatch.setattr(compare_mod, "strategy_class", strategy_class)
