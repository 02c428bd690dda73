"""``ivosw-bench serve`` and ``ivosw-bench server ...``: start the benchmark server, manage its users,
prepare the participants' copy of the dataset.

The server binds 127.0.0.1 unless told otherwise (another address is announced with a warning: the
protocol has no TLS of its own; put it behind a TLS proxy). It binds its socket itself, so a port in
use is one line, and port 0 takes a free one; the URL it serves on is printed once it listens.
Uvicorn runs one process (SQLite and the per-session order live in it) with evaluations in a pool
of ``eval_workers`` threads; no debug page exists (Starlette ``debug=False``, errors as JSON).
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ServerError
from ..files import atomic_write, write_json
from .db import Database
from .keys import USER_NAME_RE, new_key

DEFAULT_DB = "ivosw-server.sqlite3"
MAX_INTERACTIONS = 16  # davisinteractive's limit


@dataclass
class ServeConfig:
    dataset: str
    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 8000
    max_interactions: int = 8
    max_body_mb: float = 32.0
    session_time: float | None = None
    eval_workers: int = 2
    log_level: str = "info"


def check_config(cfg: ServeConfig) -> None:
    if not isinstance(cfg.port, int) or not 0 <= cfg.port <= 65535:
        raise ServerError(f"--port must be in 0..65535, not {cfg.port}")
    if not isinstance(cfg.max_interactions, int) or not 1 <= cfg.max_interactions <= MAX_INTERACTIONS:
        raise ServerError(f"--max-interactions must be in 1..{MAX_INTERACTIONS} (davisinteractive's limit), "
                          f"not {cfg.max_interactions}")
    if not 0 < cfg.max_body_mb <= 4096:
        raise ServerError(f"--max-body-mb must be in (0, 4096], not {cfg.max_body_mb}")
    if cfg.session_time is not None and not cfg.session_time > 0:
        raise ServerError(f"--session-time must be a positive number of seconds, not {cfg.session_time}")
    if not isinstance(cfg.eval_workers, int) or not 1 <= cfg.eval_workers <= 64:
        raise ServerError(f"--eval-workers must be in 1..64, not {cfg.eval_workers}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); ServerError (one line) when it cannot be had."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as exc:
        raise ServerError(f"--host {host} --port {port}: cannot listen ({getattr(exc, 'strerror', None) or exc})") from None
    return sock


def build_app(cfg: ServeConfig):
    """(ASGI app, served dataset) from the options; every check happens here, before listening."""
    from .. import compat

    check_config(cfg)
    compat.apply()
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ServerError(f"the server needs starlette and uvicorn ({exc.name} is missing): "
                          f"pip install 'ivosw-bench[server]'") from None
    from .app import create_app
    from .dataset import open_served
    from .service import BenchmarkService, Limits

    dataset = open_served(cfg.dataset)
    limits = Limits(cfg.max_interactions, int(cfg.max_body_mb * 2**20), cfg.session_time)
    service = BenchmarkService(dataset, Database(cfg.db), limits)
    return create_app(service, eval_workers=cfg.eval_workers), dataset


def serve(cfg: ServeConfig, echo: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> None:
    """Run the server until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    from .dataset import served

    app, dataset = build_app(cfg)
    if not is_loopback(cfg.host):
        warn(f"--host {cfg.host}: listening beyond this machine; anyone who can reach it can try keys. "
             f"The protocol has no TLS: put the server behind a TLS proxy")
    sock = bind(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(app, log_level=cfg.log_level, server_header=False, proxy_headers=False,
                            timeout_keep_alive=5, lifespan="off")
    with served(dataset):
        echo(f"ivosw-bench server on http://{shown}:{port}/ (dataset {dataset.name}: {len(dataset.samples)} "
             f"samples, {cfg.max_interactions} interactions; database {cfg.db}; leaderboard "
             f"http://{shown}:{port}/leaderboard)")
        uvicorn.Server(config).run(sockets=[sock])


def add_user(db_path: str, name: str) -> str:
    """Register a user; return their key (shown once: only its hash is stored)."""
    if not isinstance(name, str) or not USER_NAME_RE.match(name):
        raise ServerError(f"user name must be 1-64 letters, digits, '.', '_' or '-' (not starting with "
                          f"'.', '_' or '-'), not {name!r}")
    key = new_key()
    Database(db_path).add_user(name, key.key_id, key.key_hash)
    return key.key


def list_users(db_path: str) -> list[dict]:
    if not Path(db_path).is_file():
        raise ServerError(f"--db {db_path}: no such database (add a user first)")
    return Database(db_path).users()


def participant_folder(dataset_path: str, out: str) -> Path:
    """Copy what a participant needs (frames, scribbles, ImageSets, sequences.json) to ``out``;
    no ground truth."""
    from .dataset import open_served

    dataset = open_served(dataset_path)
    root, out = Path(dataset.data.root), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ServerError(f"--out {out}: exists and is not empty")
    for part in ("JPEGImages", "Scribbles", "ImageSets"):
        for src in sorted((root / part).rglob("*")) if (root / part).is_dir() else []:
            if src.is_file() and (part != "JPEGImages" or src.parent.name in dataset.sequences):
                dst = out / src.relative_to(root)
                dst.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(dst, src.read_bytes(), fsync=False)
    meta = {s: dict(dataset.meta(s), name=s) for s in dataset.sequences}
    write_json(out / "sequences.json", meta, sort_keys=True)
    return out
