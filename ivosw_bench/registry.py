"""Find backends and strategies through their entry-point groups.

Third-party packages add their own with ``[options.entry_points]`` in their setup.cfg::

    ivosw_bench.backends =
        mymethod = mypkg.backend:MyBackend
    ivosw_bench.strategies =
        mystrategy = mypkg.strategy:MyStrategy
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

BACKEND_GROUP = "ivosw_bench.backends"
STRATEGY_GROUP = "ivosw_bench.strategies"


class RegistryError(ValueError):
    """Unknown or unloadable backend/strategy (one-line message)."""


def _names(group: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=group)}


def backend_names() -> list[str]:
    return sorted(_names(BACKEND_GROUP))


def strategy_names() -> list[str]:
    return sorted(_names(STRATEGY_GROUP))


def _load(group: str, kind: str, name: str):
    eps = _names(group)
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise RegistryError(f"unknown {kind} '{name}' (known: {known})")
    try:
        return eps[name].load()
    except Exception as exc:  # a broken plugin must not take the CLI down with a traceback
        raise RegistryError(f"{kind} '{name}' could not be imported: {type(exc).__name__}: {exc}") from exc


def backend_class(name: str):
    return _load(BACKEND_GROUP, "backend", name)


def strategy_class(name: str):
    """``name`` may carry an argument after a colon (``human:alice``)."""
    return _load(STRATEGY_GROUP, "strategy", name.partition(":")[0])


def make_backend(name: str, **options):
    from backends.base import BackendUnavailable

    cls = backend_class(name)
    missing = cls.availability()
    if missing:
        raise BackendUnavailable(f"backend '{name}' is not usable here: {missing}")
    return cls(**options)


def make_strategy(name: str, seed: int = 0, **options):
    cls = strategy_class(name)
    base, sep, arg = name.partition(":")
    if sep:
        key = getattr(cls, "name_argument", None)
        if key is None:
            raise RegistryError(f"strategy '{base}' takes no ':<argument>' (got '{name}')")
        options[key] = arg
    return cls(seed=seed, **options)


def backend_table() -> list[dict[str, str]]:
    """Every installed backend with whether it can run here, if not what is missing, and notes on how
    it would run (e.g. with random weights)."""
    rows = []
    for name in backend_names():
        try:
            cls = backend_class(name)
            missing = cls.availability()
            desc = getattr(cls, "description", "")
            notes = cls.notes() if hasattr(cls, "notes") else None
        except RegistryError as exc:
            missing, desc, notes = str(exc), "", None
        rows.append({"name": name, "usable": "yes" if not missing else "no",
                     "missing": missing or "", "notes": notes or "", "description": desc})
    return rows
