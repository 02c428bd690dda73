"""The participant's side of a run against a benchmark server (``ivosw-bench run --host URL``).

The round loop talks to the server through davisinteractive's own ``RemoteConnector`` (chosen by
its ``ServerConnectionFabric`` from ``host=URL``); this module only does what that client does not:

- :func:`connect` asks the server, before anything is written, whether it is there, whether the
  key is valid and what it serves (``api/info``), with a timeout and one-line errors;
- :func:`check_plan` checks that the local folder (images, scribbles, ``sequences.json``; no
  ground truth) holds every sequence the server evaluates, with the same metadata, and that
  ``--rounds`` is the server's number of interactions;
- :func:`session_key` keeps the server session's key in the run folder (``server.json``), so that
  ``--resume`` continues the same session: the server keeps every counted interaction, and replayed
  interactions (a deterministic backend posts the same masks again) are answered from its store;
- :func:`remote_calls` puts a timeout on the client's sockets and turns whatever the connector
  raises (connection refused, timeout, a 4xx rebuilt from the server's ``error``/``message``) into
  one :class:`~ivosw_bench.errors.RemoteError` line, with the server's message that davisinteractive
  only logs.
"""
from __future__ import annotations

import binascii
import contextlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import RemoteError, RunError, StoreError
from ..files import read_json, write_json
from . import protocol

SERVER_FILE = "server.json"
DEFAULT_TIMEOUT = 120.0
URL_RE = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_META_KEYS = ("num_frames", "num_objects", "num_scribbles", "image_size")


@dataclass(frozen=True)
class ServerInfo:
    """What a server evaluates (from ``api/info``)."""

    url: str
    user: str
    dataset: str
    max_i: int
    samples: list[tuple[str, int]]
    sequences: dict[str, dict]


def check_url(host: str) -> str:
    if not isinstance(host, str) or not URL_RE.match(host):
        raise RunError(f"--host must be the server's URL, like http://127.0.0.1:8000, not {host!r}")
    return host.rstrip("/")


def _get(url: str, path: str, timeout: float, headers: dict | None = None):
    import requests

    try:
        r = requests.get(url + path, headers=headers or {}, timeout=timeout)
    except requests.exceptions.Timeout:
        raise RemoteError(f"server {url}: no answer within {timeout:g} s (--timeout)") from None
    except requests.exceptions.ConnectionError as exc:
        raise RemoteError(f"server {url}: cannot connect ({_reason(exc)})") from None
    if r.status_code != 200:
        raise RemoteError(f"server {url}: {path} answered {r.status_code} {_server_message(r)}")
    try:
        return r.json()
    except ValueError:
        raise RemoteError(f"server {url}: {path} did not answer JSON (is it an ivosw-bench server?)") from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if known in text:
            return known.lower()
    return " ".join(text.split())[:200]


def _server_message(response) -> str:
    try:
        body = response.json()
        message = body.get("message")
        return f"{body.get('error', '')}: {' '.join(map(str, message)) if isinstance(message, list) else message}"
    except (ValueError, AttributeError):
        return response.reason or ""


def connect(host: str, user_key: str | None, timeout: float = DEFAULT_TIMEOUT) -> ServerInfo:
    """Check the server and the key (one-line :class:`RemoteError`); return what it serves."""
    url = check_url(host)
    if not user_key:
        raise RunError("--user-key (or IVOSW_USER_KEY) is needed to run against a server")
    _get(url, protocol.HEALTHCHECK, timeout)
    info = _get(url, protocol.INFO, timeout, {protocol.USER_HEADER: user_key})
    try:
        return ServerInfo(url, str(info["user"]), str(info["dataset"]), int(info["max_i"]),
                          [(str(s), int(i)) for s, i in info["samples"]], dict(info["sequences"]))
    except (KeyError, TypeError, ValueError):
        raise RemoteError(f"server {url}: {protocol.INFO} answered something else than an ivosw-bench "
                          f"server's description") from None


def check_plan(info: ServerInfo, dataset, rounds: int) -> list[str]:
    """The sequences of the run (the server's); RunError when the local folder or --rounds disagree."""
    if rounds != info.max_i:
        raise RunError(f"--rounds {rounds}: the server at {info.url} evaluates {info.max_i} interactions per "
                       f"sample; pass --rounds {info.max_i}")
    sequences = sorted({s for s, _ in info.samples})
    for seq in sequences:
        local = dataset.sequences.get(seq)
        if local is None:
            raise RunError(f"{dataset.root}: no sequence '{seq}', which the server at {info.url} evaluates")
        for key in _META_KEYS:
            theirs = info.sequences.get(seq, {}).get(key)
            if local.get(key) != theirs:
                raise RunError(f"{dataset.root}: sequence '{seq}' has {key} {local.get(key)!r}, the server's "
                               f"has {theirs!r}")
    return sequences


def session_key(run_dir: Path, url: str, resume: bool) -> str:
    """The server session of a run folder: the recorded one, else a new one, recorded now."""
    path = Path(run_dir) / SERVER_FILE
    if path.exists():
        recorded = read_json(path, StoreError, SERVER_FILE)
        if not isinstance(recorded, dict) or not protocol.SESSION_KEY_RE.match(str(recorded.get("session_key"))):
            raise StoreError(f"{path}: not a server record of ivosw-bench")
        if recorded.get("host") != url:
            raise RunError(f"--host {url}: the run in {run_dir} talks to {recorded.get('host')}")
        return recorded["session_key"]
    key = binascii.hexlify(os.urandom(32)).decode()
    write_json(path, {"host": url, "session_key": key})
    return key


def check_same_host(config: dict, host: str | None, run_dir: Path) -> None:
    """A run folder is resumed against what it ran against: the same server, or the local service."""
    if config.get("host") != host:
        was, now = config.get("host") or "the local service", host or "the local service"
        raise RunError(f"cannot resume {run_dir}: it ran against {was}, this command against {now}")


def with_server_summary(summary: dict, server: dict | None, run_dir: Path) -> dict:
    """A remote run's summary.json with time-AUC and J&F@60s from davisinteractive's global summary as
    the server computed it (no ground truth here to recompute them); kept as server_summary.json."""
    if not summary["complete"] or not server:
        return summary
    write_json(Path(run_dir) / "server_summary.json", server)
    metric = next(k for k in server["metric_at_threshold"] if k != "threshold")
    summary["metrics"].update(time_auc=float(server["auc"]), jf_at_60s=float(server["metric_at_threshold"][metric]),
                              davis_curve={"time": server["curve"]["time"], "jf": server["curve"][metric]})
    return summary


def adopt_session(sess, key: str) -> None:
    """Make a davisinteractive session (before ``__enter__``) continue the server session ``key``:
    the key its connector sends as ``Session-Key``."""
    sess.session_key = key
    sess.connector.session_key = key
    sess.connector.headers[protocol.SESSION_HEADER] = key


class _LastError(logging.Handler):
    """Keeps the last error davisinteractive logged (its connector logs the server's message)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))


def _detail(exc: BaseException, logged: list[str]) -> str:
    """The server's answer: a 400 is rebuilt as the exception (``ValueError: ...``); for other 4xx
    the connector raises ``Exception(name)`` and only logs ``name: [message]``."""
    if type(exc) is not Exception:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    for message in reversed(logged):
        m = re.match(r"^(\w+): \[['\"](.*)['\"]\]$", message)
        if m:
            return f"{m.group(1)}: {m.group(2)}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _from_connector(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside davisinteractive's remote connector (an answer it rebuilt)."""
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).match("*/davisinteractive/connector/remote.py"):
            return True
        tb = tb.tb_next
    return False


@contextlib.contextmanager
def remote_calls(url: str, timeout: float = DEFAULT_TIMEOUT):
    """Socket timeout and one-line errors for the connector's requests inside this block."""
    import requests

    absl_logger = logging.getLogger("absl")
    handler, propagate = _LastError(), absl_logger.propagate
    absl_logger.addHandler(handler)
    absl_logger.propagate = False
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        yield
    except requests.exceptions.Timeout:
        raise RemoteError(f"server {url}: no answer within {timeout:g} s (--timeout); --resume continues "
                          f"the session") from None
    except requests.exceptions.ConnectionError as exc:
        raise RemoteError(f"server {url}: connection lost ({_reason(exc)}); --resume continues the session") from None
    except Exception as exc:  # noqa: BLE001 - only what the connector raised is translated
        if not _from_connector(exc):
            raise
        raise RemoteError(f"server {url} refused: {_detail(exc, handler.messages)}") from None
    finally:
        socket.setdefaulttimeout(previous)
        absl_logger.removeHandler(handler)
        absl_logger.propagate = propagate
