"""A typed registry of backends and strategies, found through their entry-point groups.

Third-party packages add their own with ``[options.entry_points]`` in their setup.cfg::

    ivosw_bench.backends =
        mymethod = mypkg.backend:MyBackend
    ivosw_bench.strategies =
        mystrategy = mypkg.strategy:MyStrategy

Entry points are loaded lazily (on first use of a name). A plug-in must subclass the group's base
class (:class:`backends.base.Backend`, :class:`ivosw_bench.strategies.base.Strategy`); an unknown
name suggests the nearest known one; an option a strategy does not take is refused.
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from .errors import BackendUnavailable, RegistryError

BACKEND_GROUP = "ivosw_bench.backends"
STRATEGY_GROUP = "ivosw_bench.strategies"
#: options every strategy receives from the harness (not user options)
HARNESS_OPTIONS = ("seed", "rounds")


@dataclass(frozen=True)
class _Kind:
    group: str
    label: str
    base: str  # "module:Class" of the base class (imported lazily)

    def base_class(self):
        module, _, cls = self.base.partition(":")
        return getattr(__import__(module, fromlist=[cls]), cls)


BACKENDS = _Kind(BACKEND_GROUP, "backend", "backends.base:Backend")
STRATEGIES = _Kind(STRATEGY_GROUP, "strategy", "ivosw_bench.strategies.base:Strategy")


def _entry_points(kind: _Kind) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=kind.group)}


def _unknown(kind: _Kind, name: str, known: list[str]) -> RegistryError:
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    return RegistryError(f"unknown {kind.label} '{name}'{hint} (known: {', '.join(known) or 'none installed'})")


def _load(kind: _Kind, name: str):
    eps = _entry_points(kind)
    if name not in eps:
        raise _unknown(kind, name, sorted(eps))
    try:
        cls = eps[name].load()
    except Exception as exc:  # a broken plugin must not take the CLI down with a traceback
        raise RegistryError(f"{kind.label} '{name}' could not be imported: {type(exc).__name__}: {exc}") from exc
    base = kind.base_class()
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        raise RegistryError(f"{kind.label} '{name}' ({eps[name].value}) is not a subclass of "
                            f"{base.__module__}.{base.__name__}")
    return cls


def backend_names() -> list[str]:
    return sorted(_entry_points(BACKENDS))


def strategy_names() -> list[str]:
    return sorted(_entry_points(STRATEGIES))


def backend_class(name: str):
    return _load(BACKENDS, name)


def strategy_class(name: str):
    """``name`` may carry an argument after a colon (``human:alice``)."""
    return _load(STRATEGIES, name.partition(":")[0])


def make_backend(name: str, **options):
    cls = backend_class(name)
    missing = cls.availability()
    if missing:
        raise BackendUnavailable(f"backend '{name}' is not usable here: {missing}")
    _check_options(cls, BACKENDS, name, options)
    return cls(**options)


def strategy_options(cls) -> list[str]:
    """The user options a strategy class takes (its ``__init__`` keywords besides seed and rounds)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.name not in HARNESS_OPTIONS
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _check_options(cls, kind: _Kind, name: str, options: dict) -> None:
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    known = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    bad = sorted(set(options) - known)
    if bad:
        takes = sorted(known - {"self", *HARNESS_OPTIONS})
        raise RegistryError(f"{kind.label} '{name}' takes no option {', '.join(repr(b) for b in bad)} "
                            f"(it takes: {', '.join(takes) or 'none'})")


def make_strategy(name: str, seed: int = 0, rounds: int = 8, **options):
    """A strategy by name (``human:alice`` sets the class's ``name_argument``), with its options."""
    cls = strategy_class(name)
    base, sep, arg = name.partition(":")
    if sep:
        if cls.name_argument is None:
            raise RegistryError(f"strategy '{base}' takes no ':<argument>' (got '{name}')")
        options[cls.name_argument] = arg
    _check_options(cls, STRATEGIES, base, options)
    return cls(seed=seed, rounds=rounds, **options)


def backend_table() -> list[dict[str, str]]:
    """Every installed backend with whether it can run here, if not what is missing, and notes on how
    it would run (e.g. with random weights)."""
    rows = []
    for name in backend_names():
        try:
            cls = backend_class(name)
            missing = cls.availability()
            desc = cls.description
            notes = cls.notes()
        except RegistryError as exc:
            missing, desc, notes = str(exc), "", None
        rows.append({"name": name, "usable": "yes" if not missing else "no",
                     "missing": missing or "", "notes": notes or "", "description": desc})
    return rows
