"""Helpers of the benchmark-server tests: a server subprocess on a free loopback port, users, and a
deterministic "model" (the fake backend) driven through davisinteractive's unmodified client."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
URL_RE = re.compile(r"ivosw-bench server on (http://127\.0\.0\.1:\d+)/")


def cli(*args, env=None, timeout=120, check=True) -> subprocess.CompletedProcess:
    """``python -m ivosw_bench.cli ARGS`` from this checkout."""
    run_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    res = subprocess.run([sys.executable, "-m", "ivosw_bench.cli", *map(str, args)], cwd=REPO, env=run_env,
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"ivosw-bench {' '.join(map(str, args))} failed ({res.returncode}): {res.stderr[-2000:]}")
    return res


def add_user(db: Path, name: str) -> str:
    return cli("server", "add-user", name, "--db", db).stdout.strip()


class ServerProcess:
    """``ivosw-bench serve`` as a subprocess; ``url`` once it listens."""

    def __init__(self, dataset: Path, db: Path, log: Path, *options, port: int = 0):
        self.args = ["serve", "--dataset", dataset, "--db", db, "--port", port, "--log-level", "warning", *options]
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "ivosw_bench.cli", *map(str, self.args)], cwd=REPO,
                                         env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            found = URL_RE.search(text)
            if found:
                self.url = found.group(1)
                if self._healthy():
                    return self
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}): {text[-2000:]}")
            time.sleep(0.1)
        raise AssertionError(f"server did not start within {timeout} s: {self.log.read_text()[-2000:]}")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url + "/api/healthcheck", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def headers(user_key: str, session_key: str) -> dict:
    return {"User-Key": user_key, "Session-Key": session_key}


def play(sess, dataset, candidates, record: dict | None = None, model=None) -> dict:
    """Drive a davisinteractive session to its end with the fake backend; ``candidates(seq, t, T)`` gives
    each round's next_scribble_frame_candidates. Returns the global summary; ``record`` gets the
    scribbles the session received per (sequence, scribble_idx)."""
    from backends.fake import FakeBackend

    backend = model or FakeBackend()
    while sess.next():
        seq, scribbles, new = sess.get_scribbles(only_last=True)
        sample = tuple(sess.samples[sess.sample_idx])
        if new:
            backend.reset(seq, dataset.frames(seq), dataset.sequences[seq]["num_objects"])
        frame = next(f for f, s in enumerate(scribbles["scribbles"]) if s) if any(scribbles["scribbles"]) else 0
        if record is not None:
            record.setdefault(sample, []).append(scribbles)
        pred = backend.interact(scribbles, frame)
        n = dataset.sequences[seq]["num_frames"]
        sess.submit_masks(pred.labels, next_scribble_frame_candidates=candidates(seq, sess.interaction_nb + 1, n))
    return sess.get_global_summary()
