"""The server's durable store: one SQLite file in WAL mode, ``synchronous=FULL``.

An interaction is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) holding its row, the
submitted masks and davisinteractive's report rows, committed before the client gets its answer; the
primary keys make a second copy of an interaction impossible. So a server killed at any moment
restarts with every answered interaction kept and none counted twice. Tables (columns declared once,
in :data:`SCHEMA`):

    users         a name, the key id and the SHA-256 of the key's secret (see keys.py)
    sessions      the client's Session-Key, its user, the dataset (name, fingerprint), max_i, times
                  and, once finished, davisinteractive's global summary
    interactions  one per counted interaction: timing, the masks (sha256 and zlib'd RLE JSON), the
                  candidates asked for, the frame the robot scribbled and the scribble returned
    report_rows   davisinteractive's report: one row per (interaction, object, frame)
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServerError

SCHEMA_VERSION = 1
REPORT_COLUMNS = ("sequence", "scribble_idx", "interaction", "object_id", "frame", "jaccard", "contour",
                  "j_and_f", "timing")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL UNIQUE,
    key_hash BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), dataset TEXT NOT NULL,
    fingerprint TEXT NOT NULL, max_i INTEGER NOT NULL, n_samples INTEGER NOT NULL, created REAL NOT NULL,
    finished REAL, summary TEXT);
CREATE TABLE IF NOT EXISTS interactions (
    session TEXT NOT NULL REFERENCES sessions(key), sequence TEXT NOT NULL, scribble_idx INTEGER NOT NULL,
    interaction INTEGER NOT NULL, timing REAL NOT NULL, masks_sha256 TEXT NOT NULL, masks BLOB NOT NULL,
    candidates TEXT, next_frame INTEGER NOT NULL, override INTEGER NOT NULL, scribble TEXT NOT NULL,
    received REAL NOT NULL, eval_s REAL NOT NULL,
    PRIMARY KEY (session, sequence, scribble_idx, interaction));
CREATE TABLE IF NOT EXISTS report_rows (
    session TEXT NOT NULL, sequence TEXT NOT NULL, scribble_idx INTEGER NOT NULL, interaction INTEGER NOT NULL,
    object_id INTEGER NOT NULL, frame INTEGER NOT NULL, jaccard REAL NOT NULL, contour REAL NOT NULL,
    j_and_f REAL NOT NULL, timing REAL NOT NULL,
    PRIMARY KEY (session, sequence, scribble_idx, interaction, object_id, frame),
    FOREIGN KEY (session, sequence, scribble_idx, interaction)
        REFERENCES interactions (session, sequence, scribble_idx, interaction));
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
"""


class StaleState(Exception):
    """The state an interaction was evaluated against changed before it could be committed."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    key_hash: bytes


@dataclass(frozen=True)
class Session:
    key: str
    user_id: int
    dataset: str
    fingerprint: str
    max_i: int
    n_samples: int
    created: float
    finished: float | None
    summary: dict | None


@dataclass(frozen=True)
class Interaction:
    """One counted interaction as stored (the report rows apart)."""

    session: str
    sequence: str
    scribble_idx: int
    interaction: int
    timing: float
    masks_sha256: str
    masks_json: str
    candidates: list[int] | None
    next_frame: int
    override: bool
    scribble: dict
    received: float
    eval_s: float


class Database:
    """The store at ``path`` (created with its schema when missing); one connection per thread."""

    def __init__(self, path):
        self.path = Path(path)
        self._local = threading.local()
        if self.path.is_dir():
            raise ServerError(f"--db {self.path}: is a folder, not a database file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._connection()
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            self._check_version(con)
        except sqlite3.DatabaseError as exc:
            raise ServerError(f"--db {self.path}: not a usable SQLite database ({exc})") from None
        except OSError as exc:
            raise ServerError(f"--db {self.path}: cannot open ({exc.strerror or exc})") from None

    def _check_version(self, con: sqlite3.Connection) -> None:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise ServerError(f"--db {self.path}: schema version {row[0]}, this server writes {SCHEMA_VERSION}")

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
        return con

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction (taken at once: ``BEGIN IMMEDIATE``), committed on success."""
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._connection().execute(sql, args).fetchall()

    # -- users ------------------------------------------------------------------------------------
    def add_user(self, name: str, key_id: str, key_hash: bytes) -> None:
        try:
            with self.transaction() as con:
                con.execute("INSERT INTO users (name, key_id, key_hash, created) VALUES (?, ?, ?, ?)",
                            (name, key_id, key_hash, time.time()))
        except sqlite3.IntegrityError:
            raise ServerError(f"user '{name}' already exists in {self.path}") from None

    def user_by_key_id(self, key_id: str) -> User | None:
        rows = self.query("SELECT id, name, key_hash FROM users WHERE key_id = ?", (key_id,))
        return User(*rows[0]) if rows else None

    def users(self) -> list[dict]:
        rows = self.query("SELECT u.name, u.created, COUNT(s.key), COUNT(s.finished) FROM users u "
                          "LEFT JOIN sessions s ON s.user_id = u.id GROUP BY u.id ORDER BY u.name")
        return [{"name": n, "created": c, "sessions": s, "finished": f} for n, c, s, f in rows]

    def user_names(self) -> dict[int, str]:
        return dict(self.query("SELECT id, name FROM users"))

    # -- sessions ---------------------------------------------------------------------------------
    def session(self, key: str) -> Session | None:
        rows = self.query("SELECT key, user_id, dataset, fingerprint, max_i, n_samples, created, finished, "
                          "summary FROM sessions WHERE key = ?", (key,))
        if not rows:
            return None
        *head, summary = rows[0]
        return Session(*head, json.loads(summary) if summary is not None else None)

    def open_session(self, key: str, user_id: int, dataset: str, fingerprint: str, max_i: int,
                     n_samples: int) -> Session:
        """The session ``key``, created for ``user_id`` when new."""
        with self.transaction() as con:
            con.execute("INSERT OR IGNORE INTO sessions (key, user_id, dataset, fingerprint, max_i, n_samples, "
                        "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (key, user_id, dataset, fingerprint, max_i, n_samples, time.time()))
        return self.session(key)

    def finish_session(self, key: str, summary: dict) -> Session:
        """Store the summary of ``key`` unless it is already finished; return the session."""
        with self.transaction() as con:
            con.execute("UPDATE sessions SET finished = ?, summary = ? WHERE key = ? AND finished IS NULL",
                        (time.time(), json.dumps(summary), key))
        return self.session(key)

    def finished_sessions(self) -> list[Session]:
        rows = self.query("SELECT key FROM sessions WHERE finished IS NOT NULL ORDER BY finished, key")
        return [self.session(k) for (k,) in rows]

    # -- interactions -----------------------------------------------------------------------------
    def interactions(self, session: str, sequence: str, scribble_idx: int) -> list[Interaction]:
        """The counted interactions of one sample of a session, in order."""
        rows = self.query("SELECT session, sequence, scribble_idx, interaction, timing, masks_sha256, masks, "
                          "candidates, next_frame, override, scribble, received, eval_s FROM interactions "
                          "WHERE session = ? AND sequence = ? AND scribble_idx = ? ORDER BY interaction",
                          (session, sequence, scribble_idx))
        return [_interaction(r) for r in rows]

    def add_interaction(self, rec: Interaction, rows: list[tuple]) -> None:
        """Commit one interaction and its report rows ``(object_id, frame, jaccard, contour, j_and_f,
        timing)``; :class:`StaleState` when the sample or session moved on meanwhile."""
        with self.transaction() as con:
            finished = con.execute("SELECT finished FROM sessions WHERE key = ?", (rec.session,)).fetchone()
            if finished is None or finished[0] is not None:
                raise StaleState("the session was finished meanwhile")
            done = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ? AND sequence = ? AND "
                               "scribble_idx = ?", (rec.session, rec.sequence, rec.scribble_idx)).fetchone()[0]
            if done != rec.interaction - 1:
                raise StaleState(f"the sample has {done} interactions now")
            con.execute("INSERT INTO interactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (rec.session, rec.sequence, rec.scribble_idx, rec.interaction, rec.timing,
                         rec.masks_sha256, zlib.compress(rec.masks_json.encode("utf-8"), 6),
                         None if rec.candidates is None else json.dumps(rec.candidates), rec.next_frame,
                         int(rec.override), json.dumps(rec.scribble), rec.received, rec.eval_s))
            con.executemany("INSERT INTO report_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [(rec.session, rec.sequence, rec.scribble_idx, rec.interaction) + tuple(r)
                             for r in rows])

    def report(self, session: str) -> dict[str, list]:
        """davisinteractive's report of a session, column by column, in the order it was stored."""
        rows = self.query(f"SELECT {', '.join(REPORT_COLUMNS)} FROM report_rows WHERE session = ? ORDER BY rowid",
                          (session,))
        columns = list(zip(*rows)) if rows else [()] * len(REPORT_COLUMNS)
        out = {"session_id": [session] * len(rows)}
        out.update({c: list(v) for c, v in zip(REPORT_COLUMNS, columns)})
        return out

    def counts(self) -> dict[str, int]:
        """Rows per table (for checks and the load test)."""
        return {t: self.query(f"SELECT COUNT(*) FROM {t}")[0][0]
                for t in ("users", "sessions", "interactions", "report_rows")}


def _interaction(row: tuple) -> Interaction:
    (session, seq, idx, inter, timing, sha, masks, candidates, next_frame, override, scribble, received,
     eval_s) = row
    return Interaction(session, seq, idx, inter, timing, sha, zlib.decompress(masks).decode("utf-8"),
                       None if candidates is None else json.loads(candidates), next_frame, bool(override),
                       json.loads(scribble), received, eval_s)
