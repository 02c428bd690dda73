"""How the MANet and ATNet adapters get their network: random weights, CPU shims, one copy per process.

Two yes/no settings per adapter (MANet and ATNet), looked up like every adapter setting (constructor
option, ``IVOSW_<METHOD>_<KEY>``, ``[<method>] <key>`` in the backends config file):

* ``random_weights``: build the network of the right architecture with its own random initialisation
  (drawn from ``seed``) instead of loading a weights file. The masks are meaningless; shapes, memory
  and time per round are the real ones. ``ivosw-bench backends`` says so.
* ``cpu_shims``: run the checkout's CUDA-only code on the CPU with the stand-ins of
  :mod:`backends.cpu_shims`. Off by default: without it the checkout runs as its authors wrote it.

Adapters built with the same checkout, weights and device share one imported checkout and one network
(:func:`shared`): agent training builds a backend per training window, and each used to hold its own
copy of ResNet-101 (MANet) or two SE-ResNet-50 (ATNet). Per-sample memory stays per backend.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Callable, Iterator

from backends import _checkout as ck
from backends.cpu_shims import NO_SHIMS, CpuShims, NoShims

RANDOM_WEIGHTS = "random_weights"
CPU_SHIMS = "cpu_shims"


def random_weights(method: str, option=None) -> bool:
    """Whether ``method`` is asked to run with random weights (no weights file is looked up)."""
    return ck.flag_setting(method, RANDOM_WEIGHTS, option)


def shims(method: str, option=None, **stand_ins) -> NoShims:
    """:class:`CpuShims` (with ``stand_ins``) when the ``cpu_shims`` setting is on, else :data:`NO_SHIMS`."""
    return CpuShims(**stand_ins) if ck.flag_setting(method, CPU_SHIMS, option) else NO_SHIMS


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draw random initialisations from ``seed`` without disturbing the caller's global RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def on_device(device: str):
    """Context in which the checkouts' bare ``.cuda()`` calls land on ``device`` (``cuda:N``), not on
    cuda:0; nothing for the CPU."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is not None:
        return torch.cuda.device(dev)
    return contextlib.nullcontext()


def notes(method: str, random: bool | None = None, shimmed: bool | None = None) -> str | None:
    """What ``ivosw-bench backends`` and a run's config should say about how ``method`` runs: with
    ``random``/``shimmed`` given (a built backend), about those; else about its settings here."""
    out = []
    try:
        random = random_weights(method) if random is None else random
        shimmed = ck.flag_setting(method, CPU_SHIMS) if shimmed is None else shimmed
    except ck.BackendError as exc:
        return str(exc)
    if random:
        out.append(f"random weights ({ck.env_name(method, RANDOM_WEIGHTS)}): plumbing only, masks are "
                   "meaningless")
    if shimmed:
        out.append(f"CPU stand-ins for its CUDA-only code ({ck.env_name(method, CPU_SHIMS)}): slow, for "
                   "tests")
    return "; ".join(out) or None


class Shared:
    """What backends built alike share (attributes given by the builder, e.g. ``ckout``, ``model``)."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


_SHARED: "weakref.WeakValueDictionary[tuple, Shared]" = weakref.WeakValueDictionary()


def shared(key: tuple, build: Callable[[], Shared]) -> Shared:
    """The :class:`Shared` built for ``key`` while any backend still holds it, else ``build()``."""
    found = _SHARED.get(key)
    if found is None:
        found = build()
        _SHARED[key] = found
    return found
