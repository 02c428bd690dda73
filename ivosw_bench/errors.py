"""Errors that are the user's input (bad option, bad file): the CLI prints them as one line."""
from __future__ import annotations


class LeaderboardError(ValueError):
    """Runs cannot be put on one leaderboard or timeline (unfinished, different samples, mixed T,
    unknown reference); the message is one line naming the runs or the option."""


def user_errors() -> tuple[type[BaseException], ...]:
    from backends.base import BackendError
    from .data.check import DatasetError
    from .quality.base import QualityError
    from .registry import RegistryError
    from .results.report import ReportError
    from .results.store import StoreError
    from .session import RunError

    return (BackendError, DatasetError, LeaderboardError, QualityError, RegistryError, ReportError,
            StoreError, RunError)
