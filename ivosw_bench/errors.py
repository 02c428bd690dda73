"""Every error that is the user's input (a bad option, a bad file): defined here, low, so that any
module can raise it where the input enters without importing upward.

Each carries a one-line message naming the file or option; the CLI prints it as ``error: ...`` with
exit status 2 (:func:`user_errors`). The modules that raise them re-export their own classes
(``from ivosw_bench.data.check import DatasetError`` keeps working).
"""
from __future__ import annotations


class UserError(Exception):
    """Base class: the input is wrong; the message is one line and says what and where."""


class RunError(UserError, ValueError):
    """A run cannot start (bad option); one-line message naming the option."""


class DatasetError(UserError, ValueError):
    """A dataset folder is not usable; the message is one line."""


class BackendError(UserError, RuntimeError):
    """A backend could not run or returned something that breaks the contract (one-line message)."""


class BackendUnavailable(BackendError):
    """A backend cannot run on this machine; the message names the one thing missing."""


class QualityError(UserError, RuntimeError):
    """A quality estimator could not run (one-line message)."""


class RegistryError(UserError, ValueError):
    """Unknown or unloadable backend/strategy, or a plug-in of the wrong kind (one-line message)."""


class ReportError(UserError, ValueError):
    """A run folder or report input cannot be read (one-line message naming the file)."""


class LeaderboardError(UserError, ValueError):
    """Runs cannot be put on one leaderboard or timeline (unfinished, different samples, mixed T,
    unknown reference); the message is one line naming the runs or the option."""


class StoreError(UserError, RuntimeError):
    """A run folder cannot be created/resumed (one-line message naming the folder)."""


class WeightsError(RunError):
    """A weights file (QA network, agent) is missing, unreadable or does not fit its network."""


class StudyError(RunError):
    """The study cannot go on (bad participant, UI stopped, stdin closed); one-line message."""


class StudyAborted(StudyError):
    """The UI was stopped while a choice was awaited; the run folder can be resumed."""


class AgentConfigError(RunError):
    """A bad agent-training option or training folder (one line)."""


class ServerError(UserError, RuntimeError):
    """The benchmark server cannot start or a server command cannot run (bad --db, --dataset, user
    name); one-line message naming the option or file."""


class RemoteError(UserError, RuntimeError):
    """A run against a benchmark server failed: the server is unreachable, timed out or refused a
    request (one line with the server's URL and its answer)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception classes the CLI reports as one line with exit status 2."""
    return (UserError,)


def one_line(exc: BaseException | str) -> str:
    """An exception (or text) as one line: its message without newlines, else its class name."""
    text = " ".join(str(exc).split())
    if isinstance(exc, BaseException) and not text:
        return type(exc).__name__
    return text
