"""A server killed with SIGKILL in the middle of sessions restarts and continues them: no answered
interaction is lost, none is counted twice (checked in the database)."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import requests

import ivosw_bench.compat as compat
from ivosw_bench.data.davis_layout import open_dataset
from server_helpers import ServerProcess, add_user, headers

compat.apply()

T = 3


class RawClient:
    """The protocol by hand (bodies encoded with davisinteractive's own mask_api), retrying while the
    server is down, as a client that keeps its session would."""

    def __init__(self, url, user_key, session_key, dataset, acked, deadline):
        self.url, self.headers = url, headers(user_key, session_key)
        self.dataset, self.acked, self.deadline = dataset, acked, deadline
        self.session_key = session_key
        self.refused = 0   # requests that found the server down (killed) and were sent again

    def call(self, method, path, body=None):
        while time.monotonic() < self.deadline:
            try:
                r = requests.request(method, self.url + path, json=body, headers=self.headers, timeout=30)
            except requests.ConnectionError:
                self.refused += 1
                time.sleep(0.1)
                continue
            if r.status_code != 200:
                raise AssertionError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            return r.json()
        raise AssertionError(f"{method} {path}: no answer before the deadline")

    def play(self):
        from backends.fake import FakeBackend
        from davisinteractive.third_party import mask_api

        samples, _, max_i = self.call("GET", "/api/dataset/samples")
        for seq, idx in sorted(map(tuple, samples)):
            meta = self.dataset.sequences[seq]
            backend = FakeBackend()
            backend.reset(seq, self.dataset.frames(seq), meta["num_objects"])
            scribbles = self.call("GET", f"/api/dataset/scribbles/{seq}/{idx:03d}")
            for t in range(1, max_i + 1):
                labels = backend.interact(scribbles, 0).labels
                body = {"sequence": seq, "scribble_idx": idx, "timing": 0.01 * t, "interaction": t,
                        "pred_masks": mask_api.encode_batch_masks(labels, nb_objects=meta["num_objects"]),
                        "next_scribble_frame_candidates": [(3 * t) % meta["num_frames"]]}
                scribbles = self.call("POST", "/api/evaluation/interaction", body)
                self.acked.append((self.session_key, seq, idx, t, scribbles))
        return self.call("POST", "/api/evaluation/finish", {})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigkill_and_restart_lose_nothing_and_count_nothing_twice(tmp_path, capsys):
    import sqlite3

    from ivosw_bench.data.synthetic import generate

    served = tmp_path / "synth"
    generate(served, seed=3, n_sequences=3, n_frames=10, size=(128, 80), max_objects=2)
    dataset = open_dataset(served)
    db = tmp_path / "bench.sqlite3"
    key = add_user(db, "carol")
    server = ServerProcess(served, db, tmp_path / "server.log", "--max-interactions", T, port=_free_port()).start()
    acked, summaries, errors = [], {}, []
    deadline = time.monotonic() + 240
    clients = [RawClient(server.url, key, f"durable-{i}-{time.monotonic_ns()}", dataset, acked, deadline)
               for i in range(3)]

    def run(c):
        try:
            summaries[c.session_key] = c.play()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    try:
        [t.start() for t in threads]
        kills = []
        for at in (5, 14):  # SIGKILL twice in the middle of the three sessions
            while len(acked) < at and time.monotonic() < deadline and not errors:
                time.sleep(0.005)
            before = list(acked)
            server.kill()
            kills.append(before)
            with sqlite3.connect(db) as con:  # everything answered before the kill is on disk
                stored = {(s, q, i, n): json_of(sc) for s, q, i, n, sc in
                          con.execute("SELECT session, sequence, scribble_idx, interaction, scribble FROM interactions")}
            for s, q, i, n, scribble in before:
                assert stored[(s, q, i, n)] == scribble
            server.start()
        [t.join(240) for t in threads]
    finally:
        server.stop()
    assert not errors, errors
    meta = dataset.sequences
    rows_per_session = T * sum(meta[s]["num_frames"] * meta[s]["num_objects"] for s in meta)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for c in clients:
            n = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ?", (c.session_key,)).fetchone()[0]
            rows = con.execute("SELECT COUNT(*) FROM report_rows WHERE session = ?", (c.session_key,)).fetchone()[0]
            assert (n, rows) == (len(dataset.samples(sorted(meta))) * T, rows_per_session)
            summary = con.execute("SELECT summary FROM sessions WHERE key = ?", (c.session_key,)).fetchone()[0]
            assert json_of(summary)["auc"] == summaries[c.session_key]["auc"]
        stored = {(s, q, i, n): json_of(sc) for s, q, i, n, sc in
                  con.execute("SELECT session, sequence, scribble_idx, interaction, scribble FROM interactions")}
    assert len(acked) == 3 * 3 * T and all(stored[a[:4]] == a[4] for a in acked)
    assert sum(c.refused for c in clients) > 0  # the sessions were cut off, then went on
    with capsys.disabled():
        print(f"\n[sigkill] 3 sessions x {len(dataset.samples(sorted(meta)))} samples x {T}: killed after "
              f"{[len(k) for k in kills]} answered interactions, {sum(c.refused for c in clients)} requests refused "
              f"while down; {len(acked)} answered, {len(stored)} stored, all answered ones kept unchanged")
    # the three sessions posted the same masks: their results are identical, whatever was cut off
    curves = [summaries[c.session_key]["curve"]["J_AND_F"] for c in clients]
    assert all(np.allclose(c, curves[0], rtol=0, atol=1e-12) for c in curves)


def json_of(text: str):
    import json

    return json.loads(text)
